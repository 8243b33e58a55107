/**
 * The R3 plugin under test: its documents built from the seed's JSON fragments (test/fixtures/r3/seed, copied
 * byte for byte from the seed), and a processor built from a document the way a host builds one — merged config
 * checked against the configSchema, compiled in a real sandbox — answering partial envelopes.
 */
import { readFileSync } from 'node:fs';
import type { Decision } from '../../core/envelope.js';
import { loadPlugin, mergedConfig, type LoadedPlugin } from '../../core/plugins/bundle.js';
import { Processor } from '../../core/host/processor.js';
import { silentLogger } from '../../core/log.js';
import { Metrics } from '../../core/metrics.js';
import { packagePath } from '../../core/paths.js';
import { fixtureEnvelope } from '../../core/host/fixtures.js';
import type { SandboxEngine } from '../../sandbox/types.js';

export const r3Dir = packagePath('plugins', 'r3');

export function r3Plugin(): LoadedPlugin {
  return loadPlugin(r3Dir);
}

function fragment(name: string): string {
  return readFileSync(packagePath('test', 'fixtures', 'r3', 'seed', `${name}.txt`), 'utf8').replace(/\n$/, '');
}

/** The "19974" entry as the seed's reductive maps write it first (no requestUri), to swap for its variants. */
const BARE_19974 = `      "19974" : {
        "description" : "CL1 STG",
        "list" : [ "address-map-2" ],
      }`;

export type SeedDocument = 'seed' | 'reductive' | 'reductiveDefault' | 'reductiveGroups';

/**
 * A document made of the seed's fragments as written: `seed` is its selectors, first maps and plan with the
 * default route; the `reductive` ones are its selectors and reductive maps (with the "19974" entry as written,
 * with its default requestUri, or with the "$1@" requestUri), planned from prefix-map-2.
 */
export function seedDocumentText(which: SeedDocument): string {
  const selectors = fragment('selectors');
  if (which === 'seed') return `{\n${selectors},\n${fragment('maps')},\n${fragment('plan')}\n}\n`;
  const entry = { reductive: BARE_19974, reductiveDefault: fragment('reductive-entry-default'), reductiveGroups: fragment('reductive-entry-groups') }[which];
  const maps = fragment('reductive-maps');
  if (!maps.includes(BARE_19974)) throw new Error('the reductive maps fragment changed');
  return `{\n${selectors},\n${maps.replace(BARE_19974, entry)}\n  "plan" : [ "prefix-map-2" ]\n}\n`;
}

export interface R3Processor {
  decide(request?: Record<string, unknown>): Promise<Decision>;
  dispose(): void;
}

/** A processor running `document` (checked and compiled as a host would); rejects with the host's refusal. */
export async function buildR3(engine: SandboxEngine, document: Record<string, unknown>, options: { plugin?: LoadedPlugin; memoryMb?: number; timeoutMs?: number } = {}): Promise<R3Processor> {
  const plugin = options.plugin ?? r3Plugin();
  const config = mergedConfig(plugin, { config: document, where: 'test document' });
  const limits = { timeoutMs: options.timeoutMs ?? plugin.manifest.spec.limits?.timeoutMs ?? 1000, memoryMb: options.memoryMb ?? plugin.manifest.spec.limits?.memoryMb ?? 128 };
  const processor = await Processor.create({ ref: 'r3', plugin, config, limits, engine, logger: silentLogger(), metrics: new Metrics(), capabilities: {} });
  return {
    decide: (request = {}) => processor.process(JSON.stringify(fixtureEnvelope(request))),
    dispose: () => processor.dispose(),
  };
}

/** A partial envelope: the To user (and optionally the socket address) of the default fixture INVITE. */
export function call(toUri: string, from?: string): Record<string, unknown> {
  return { ...(from ? { sender: { host: from } } : {}), message: { headers: { to: { uri: toUri } } } };
}

/** The Request-URI a forward decision sends to, or `respond <status>`. */
export function outcome(decision: Decision): string {
  return decision.action === 'forward' ? (decision.targets?.[0]?.uri ?? 'forward') : `respond ${decision.status}`;
}
