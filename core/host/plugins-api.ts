/**
 * The plugins management API, `/api/v1/plugins` on a host's ops server (permissions: core/api/routes.ts):
 *
 *   GET    /api/v1/plugins                 list: store state joined with what this host runs
 *   GET    /api/v1/plugins/<ref>           one plugin
 *   POST   /api/v1/plugins                 install a bundle (JSON, see plugin-bundle.schema.json)
 *   DELETE /api/v1/plugins/<ref>           remove every version from the store
 *   POST   /api/v1/plugins/<ref>/rollback  back to the previous version
 *   POST   /api/v1/plugins/<ref>/enable    enable (and close an open circuit at once)
 *   POST   /api/v1/plugins/<ref>/disable   disable: requests fall through to the next processor
 *
 * An install is checked here before the store is touched — against this host's processor configs and in a
 * fresh sandbox with the plugin's fixtures — so a version that cannot load is refused (422) with the reason.
 * Every change is then applied to this host before the answer (`applied`); other hosts apply it from their
 * store watch. The store holds the desired state; each host's list shows what it actually runs.
 */
import { ApiError, mountApi, readBody, type ApiContext } from '../api/http.js';
import type { ApiAuth } from '../api/auth.js';
import type { ProcessorHost, SlotStatus, SyncOutcome } from './host.js';
import { checkBundle, loadedFromBundle, MAX_BUNDLE_BYTES } from '../plugins/bundle.js';
import type { OpsServer } from '../http.js';
import { json } from '../http.js';
import { currentVersion, isPluginRef, PluginStoreError, type PluginState, type PluginStore } from '../plugins/store.js';

export interface PluginApiOptions {
  host: ProcessorHost;
  /** Absent when the bus has no KV (nats-server without JetStream): then only list works. */
  store: PluginStore | undefined;
  storeProblem?: string;
}

/** One row of `routr plugin list`. */
export interface PluginRow {
  ref: string;
  /** The version this host runs (the lowest if its entries differ), else the store's current one. */
  version: string | undefined;
  /** Versions in the store, oldest first; the last is current. */
  installed: string[];
  enabled: boolean;
  /** disabled, open, half-open, closed, or unused (no entry on this host runs it). */
  state: string;
  calls: number;
  failures: number;
  entries: SlotStatus[];
}

export function mountPluginApi(ops: OpsServer, auth: ApiAuth, options: PluginApiOptions): void {
  const change = (action: 'remove' | 'rollback' | 'enable' | 'disable') => (ctx: ApiContext) => changePlugin(options, ctx, action);
  mountApi(ops, auth, {
    'plugins.list': async ({ res }) => json(res, 200, { store: options.store?.kind ?? null, storeProblem: options.storeProblem, plugins: await rows(options) }),
    'plugins.get': async ({ res, params }) => {
      const row = isPluginRef(params.ref) ? (await rows(options)).find((r) => r.ref === params.ref) : undefined;
      if (!row) throw new ApiError(404, `plugin "${params.ref}" is neither installed nor used by this host`);
      json(res, 200, row);
    },
    'plugins.install': (ctx) => install(options, ctx),
    'plugins.remove': change('remove'),
    'plugins.rollback': change('rollback'),
    'plugins.enable': change('enable'),
    'plugins.disable': change('disable'),
  });
}

async function changePlugin(options: PluginApiOptions, { res, params, audit }: ApiContext, action: 'remove' | 'rollback' | 'enable' | 'disable'): Promise<void> {
  const { ref } = params;
  if (!isPluginRef(ref)) throw new ApiError(404, 'not found');
  audit.target = `plugin/${ref}`;
  const store = requireStore(options);
  const before = versionsOf(options.host, ref);
  audit.before = describeVersions(before);
  let state: PluginState | undefined;
  try {
    if (action === 'remove') await store.remove(ref);
    else state = action === 'rollback' ? await store.rollback(ref) : await store.setEnabled(ref, action === 'enable');
  } catch (err) {
    if (err instanceof PluginStoreError) throw new ApiError(err.status, err.message);
    throw err;
  }
  const applied = appliedSince(before, await options.host.sync(ref));
  audit.after = describeVersions(versionsOf(options.host, ref));
  audit.changes = [{ target: audit.target, action, before: audit.before, after: audit.after }];
  return json(res, 200, { ref, state: state ?? null, applied });
}

/** `entry@version, ...` of what runs a plugin here, for the audit record. */
function describeVersions(versions: Map<string, string>): string | null {
  return versions.size ? [...versions].map(([entry, version]) => `${entry}@${version}`).sort().join(', ') : null;
}

async function install(options: PluginApiOptions, { req, res, audit }: ApiContext): Promise<void> {
  const store = requireStore(options);
  const body = await readBody(req, 2 * MAX_BUNDLE_BYTES);
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (err) {
    throw new ApiError(400, `the body is not JSON: ${(err as Error).message}`);
  }
  let plugin;
  try {
    const bundle = checkBundle(value, 'bundle');
    plugin = loadedFromBundle(bundle, { origin: 'store', location: 'install request' });
  } catch (err) {
    throw new ApiError(400, firstLine(err), otherLines(err));
  }
  const { ref } = plugin.manifest;
  const version = plugin.manifest.metadata.version;
  audit.target = `plugin/${ref}`;
  try {
    await options.host.check(plugin);
  } catch (err) {
    throw new ApiError(422, `${ref}@${version} refused: ${firstLine(err)}`, otherLines(err));
  }
  const before = versionsOf(options.host, ref);
  let state: PluginState;
  try {
    state = await store.install({ format: 'routr.plugin.v1', manifest: plugin.manifest, source: plugin.source, fixtures: plugin.fixtures });
  } catch (err) {
    if (err instanceof PluginStoreError) throw new ApiError(err.status, err.message);
    throw err;
  }
  const applied = appliedSince(before, await options.host.sync(ref));
  audit.before = describeVersions(before);
  audit.after = `${ref}@${version}`;
  audit.changes = [{ target: audit.target, action: 'installed', before: audit.before, after: audit.after }];
  json(res, 201, { ref, version, state, applied });
}

/** The version each entry running `ref` serves now. */
function versionsOf(host: ProcessorHost, ref: string): Map<string, string> {
  return new Map(host.status().filter((e) => e.plugin === ref).map((e) => [e.ref, e.version]));
}

/**
 * The store watch may apply a change before this request's own sync does (it then finds nothing to do): report
 * what changed on this host since the request began, whichever of the two applied it.
 */
function appliedSince(before: Map<string, string>, applied: SyncOutcome[]): SyncOutcome[] {
  return applied.map((a) => (a.outcome === 'unchanged' && before.has(a.ref) && before.get(a.ref) !== a.version ? { ...a, outcome: 'swapped' } : a));
}

function requireStore(options: PluginApiOptions): PluginStore {
  if (!options.store) throw new ApiError(503, `the plugin store is unavailable: ${options.storeProblem ?? 'not configured'}`);
  return options.store;
}

async function rows(options: PluginApiOptions): Promise<PluginRow[]> {
  const states = new Map((await (options.store?.list() ?? Promise.resolve([]))).map((s) => [s.ref, s]));
  const entries = options.host.status();
  const refs = new Set([...states.keys(), ...entries.map((e) => e.plugin)]);
  return [...refs].sort().map((ref) => {
    const state = states.get(ref);
    const mine = entries.filter((e) => e.plugin === ref);
    const versions = mine.map((e) => e.version).sort();
    const enabled = state?.enabled ?? true;
    return {
      ref,
      version: versions[0] ?? currentVersion(state),
      installed: state?.history ?? [],
      enabled,
      state: !enabled ? 'disabled' : mine.length === 0 ? 'unused' : worst(mine.map((e) => e.state)),
      calls: mine.reduce((n, e) => n + e.calls, 0),
      failures: mine.reduce((n, e) => n + e.failures, 0),
      entries: mine,
    };
  });
}

const SEVERITY = ['closed', 'half-open', 'open', 'disabled'];

function worst(states: string[]): string {
  return states.reduce((a, b) => (SEVERITY.indexOf(b) > SEVERITY.indexOf(a) ? b : a), 'closed');
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0].replace(/:$/, '');
}

function otherLines(err: unknown): string[] {
  const lines = (err instanceof Error ? err.message : String(err)).split('\n').slice(1);
  return lines.map((l) => l.trim()).filter(Boolean);
}
