/**
 * What the cluster knows about its carriers, read from the bus on any node (an edge-only node has no registry of
 * its own): each Trunk URI's registration status as the registering node stored it in `routr_v1_trunks`, and
 * what the probes found (`routr_v1_health`). The API's `GET /api/v1/trunks/status` and `routr trunks status`.
 */
import type { Bus, KvStore } from '../bus/types.js';
import type { HealthBoard, TargetHealth } from '../location/health.js';
import type { RegistrationStatus } from './registration.js';
import { TRUNKS_BUCKET } from './registry.js';

const decoder = new TextDecoder();

export interface TrunksStatus {
  registrations: RegistrationStatus[];
  probes: TargetHealth[];
}

/** Every registration status stored in the trunks bucket. */
export async function storedRegistrations(kv: KvStore): Promise<RegistrationStatus[]> {
  const out: RegistrationStatus[] = [];
  for (const key of await kv.keys('status.')) {
    const entry = await kv.get(key).catch(() => null);
    if (!entry) continue;
    try {
      out.push(JSON.parse(decoder.decode(entry.value)) as RegistrationStatus);
    } catch {
      // not a status record
    }
  }
  return out.sort((a, b) => a.trunk.localeCompare(b.trunk) || a.uri.localeCompare(b.uri));
}

export async function trunksStatus(bus: Bus, health: HealthBoard | undefined): Promise<TrunksStatus> {
  let registrations: RegistrationStatus[] = [];
  try {
    registrations = await storedRegistrations(await bus.kv(TRUNKS_BUCKET));
  } catch {
    // no KV on this bus: nothing shared to read
  }
  return { registrations, probes: health?.list() ?? [] };
}
