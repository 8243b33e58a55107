/**
 * `trunks.auth`: a permission, not a door. A plugin whose manifest lists it may put `auth: { trunk }` on forward
 * targets, so that a challenge (401/407) from that target is answered by routr with the Trunk's outbound
 * credentials (core/edge/trunk-auth.ts, core/trunks/authorize.ts). The plugin never sees the password; the host
 * checks every decision for it (core/host/processor.ts) and answers only challenges from the Trunk's own
 * addresses.
 */
import type { CapabilityProvider } from '../capabilities/index.js';

export function trunkAuthCapability(): CapabilityProvider {
  return {
    name: 'trunks.auth',
    description: "decisions may carry targets[].auth: {trunk} — routr answers that target's 401/407 with the Trunk's outbound credentials",
    build: () => ({}),
  };
}
