/**
 * The plugin store: where `routr plugin install` puts plugin versions and every host looks for them. Per plugin
 * it keeps the installed versions (a history, the last one current, `rollback` pops it), and an enabled flag.
 * The store holds desired state only; each host watches it and reconciles (hot swap, enable, disable), and
 * reports what it actually runs in `routr plugin list`.
 *
 * Two backends behind one small interface, with one contract suite (test/contract/plugin-store.case.ts): a
 * directory (the embedded bus: one process, so writes are synchronous file operations and watchers are told
 * in-process) and a bus KV bucket (NATS, `store-kv.ts`). Updates are compare-and-set on the plugin's state
 * record and retried on conflict, so two operators racing each other lose nothing.
 *
 * Directory layout: `<path>/<ref>/state.json` and `<path>/<ref>/versions/<version>.json` (one bundle each).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync, join } from '../runtime/files.js';
import { bundleDigest, checkBundle, type PluginBundle } from './bundle.js';
import { pid, soon } from '../runtime/process.js';

export interface PluginState {
  ref: string;
  enabled: boolean;
  /** Installed versions, oldest first; the last is current. Empty: the store only holds the enabled flag. */
  history: string[];
  /** Set by `enable`: hosts close the plugin's breakers once per new value. */
  resetAt?: number;
  updatedAt: string;
}

/** Versions kept per plugin; older ones are dropped on install. */
export const MAX_VERSIONS = 5;

export class PluginStoreError extends Error {
  override name = 'PluginStoreError';
  readonly status: 404 | 409;
  constructor(status: 404 | 409, message: string) {
    super(message);
    this.status = status;
  }
}

/** The state record lost a compare-and-set race; the store reads it again and retries. */
export class StoreConflictError extends Error {
  override name = 'StoreConflictError';
}

export interface StoreBackend {
  readonly kind: 'directory' | 'kv';
  refs(): Promise<string[]>;
  readState(ref: string): Promise<{ state: PluginState; revision: number } | undefined>;
  /** Compare-and-set: `revision` undefined means the record must not exist yet. Throws StoreConflictError. */
  writeState(ref: string, state: PluginState, revision: number | undefined): Promise<void>;
  deleteState(ref: string): Promise<void>;
  readBundle(ref: string, version: string): Promise<PluginBundle | undefined>;
  writeBundle(ref: string, version: string, bundle: PluginBundle): Promise<void>;
  deleteBundle(ref: string, version: string): Promise<void>;
  /** Call `onChange(ref)` after every state change, from any writer; resolves to a stop function. */
  watch(onChange: (ref: string) => void): Promise<() => Promise<void>>;
}

const PLUGIN_REF = /^[a-z0-9][a-z0-9_-]*$/;

/** Refs become file names and KV key tokens: the manifest's pattern, checked again at every entry point. */
export function isPluginRef(ref: string): boolean {
  return typeof ref === 'string' && ref.length <= 128 && PLUGIN_REF.test(ref);
}

function assertRef(ref: string): void {
  if (!isPluginRef(ref)) throw new PluginStoreError(404, `"${String(ref).slice(0, 80)}" is not a plugin ref`);
}

export function currentVersion(state: PluginState | undefined): string | undefined {
  return state?.history[state.history.length - 1];
}

export class PluginStore {
  readonly #backend: StoreBackend;

  constructor(backend: StoreBackend) {
    this.#backend = backend;
  }

  get kind(): 'directory' | 'kv' {
    return this.#backend.kind;
  }

  async list(): Promise<PluginState[]> {
    const states = await Promise.all((await this.#backend.refs()).map((ref) => this.state(ref)));
    return states.filter((s): s is PluginState => s !== undefined).sort((a, b) => a.ref.localeCompare(b.ref));
  }

  async state(ref: string): Promise<PluginState | undefined> {
    assertRef(ref);
    return (await this.#backend.readState(ref))?.state;
  }

  async bundle(ref: string, version: string): Promise<PluginBundle | undefined> {
    assertRef(ref);
    if (!/^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$/.test(version)) return undefined;
    return this.#backend.readBundle(ref, version);
  }

  /**
   * Make `bundle` the plugin's current version. Versions are immutable: the same version with other content is
   * refused (409); the same content again just becomes current.
   */
  async install(bundle: PluginBundle): Promise<PluginState> {
    const { ref } = bundle.manifest;
    const version = bundle.manifest.metadata.version;
    const existing = await this.#backend.readBundle(ref, version);
    if (existing && bundleDigest(existing) !== bundleDigest(bundle)) {
      throw new PluginStoreError(409, `${ref}@${version} is already installed with different content: give the new one another metadata.version`);
    }
    if (!existing) await this.#backend.writeBundle(ref, version, bundle);
    let dropped: string[] = [];
    const state = await this.#mutate(ref, (s) => {
      const history = [...(s?.history ?? []).filter((v) => v !== version), version];
      dropped = history.splice(0, Math.max(0, history.length - MAX_VERSIONS));
      return { ref, enabled: s?.enabled ?? true, history, resetAt: s?.resetAt, updatedAt: now() };
    });
    for (const v of dropped) await this.#backend.deleteBundle(ref, v);
    return state;
  }

  /** Go back to the version before the current one; the current one is dropped. */
  async rollback(ref: string): Promise<PluginState> {
    assertRef(ref);
    let popped: string | undefined;
    const state = await this.#mutate(ref, (s) => {
      if (!s) throw new PluginStoreError(404, `plugin "${ref}" is not in the store`);
      if (s.history.length < 2) throw new PluginStoreError(409, `plugin "${ref}" has no previous version in the store`);
      popped = s.history[s.history.length - 1];
      return { ...s, history: s.history.slice(0, -1), updatedAt: now() };
    });
    if (popped) await this.#backend.deleteBundle(ref, popped);
    return state;
  }

  /** Works for any plugin ref, installed or not (a built-in can be disabled too). */
  async setEnabled(ref: string, enabled: boolean): Promise<PluginState> {
    assertRef(ref);
    return this.#mutate(ref, (s) => ({
      ref,
      history: s?.history ?? [],
      enabled,
      // Strictly increasing, so two enables in one millisecond still reset twice.
      resetAt: enabled ? Math.max(Date.now(), (s?.resetAt ?? 0) + 1) : s?.resetAt,
      updatedAt: now(),
    }));
  }

  /** Forget the plugin: its versions and its flag. Hosts fall back to a directory or built-in version. */
  async remove(ref: string): Promise<void> {
    assertRef(ref);
    const found = await this.#backend.readState(ref);
    if (!found) throw new PluginStoreError(404, `plugin "${ref}" is not in the store`);
    await this.#backend.deleteState(ref);
    for (const v of found.state.history) await this.#backend.deleteBundle(ref, v);
  }

  watch(onChange: (ref: string) => void): Promise<() => Promise<void>> {
    return this.#backend.watch(onChange);
  }

  async #mutate(ref: string, change: (state: PluginState | undefined) => PluginState): Promise<PluginState> {
    for (let attempt = 0; ; attempt++) {
      const found = await this.#backend.readState(ref);
      const next = change(found?.state);
      try {
        await this.#backend.writeState(ref, next, found?.revision);
        return next;
      } catch (err) {
        if (!(err instanceof StoreConflictError) || attempt >= 20) throw err;
      }
    }
  }
}

function now(): string {
  return new Date().toISOString();
}

/** The embedded store: files under one directory, written by this process only (through the API). */
export class DirectoryBackend implements StoreBackend {
  readonly kind = 'directory';
  readonly #root: string;
  readonly #listeners = new Set<(ref: string) => void>();

  constructor(root: string) {
    this.#root = root;
  }

  async refs(): Promise<string[]> {
    if (!existsSync(this.#root)) return [];
    return readdirSync(this.#root).filter((name) => existsSync(this.#statePath(name)));
  }

  async readState(ref: string): Promise<{ state: PluginState; revision: number } | undefined> {
    const found = this.#read(ref);
    return found && { state: found.state, revision: found.revision };
  }

  // Synchronous file operations between the check and the write: nothing else in this process runs between them.
  async writeState(ref: string, state: PluginState, revision: number | undefined): Promise<void> {
    const current = this.#read(ref);
    if ((current?.revision ?? undefined) !== revision) throw new StoreConflictError(`plugin "${ref}": state changed concurrently`);
    writeAtomic(this.#statePath(ref), JSON.stringify({ state, revision: (revision ?? 0) + 1 }));
    this.#notify(ref);
  }

  async deleteState(ref: string): Promise<void> {
    rmSync(this.#statePath(ref), { force: true });
    this.#notify(ref);
  }

  async readBundle(ref: string, version: string): Promise<PluginBundle | undefined> {
    const file = this.#bundlePath(ref, version);
    if (!existsSync(file)) return undefined;
    return checkBundle(JSON.parse(readFileSync(file, 'utf8')), file);
  }

  async writeBundle(ref: string, version: string, bundle: PluginBundle): Promise<void> {
    writeAtomic(this.#bundlePath(ref, version), JSON.stringify(bundle));
  }

  async deleteBundle(ref: string, version: string): Promise<void> {
    rmSync(this.#bundlePath(ref, version), { force: true });
    // A removed plugin leaves no empty directories behind.
    for (const dir of [join(this.#root, ref, 'versions'), join(this.#root, ref)]) {
      try {
        rmdirSync(dir);
      } catch {
        break;
      }
    }
  }

  async watch(onChange: (ref: string) => void): Promise<() => Promise<void>> {
    this.#listeners.add(onChange);
    return async () => {
      this.#listeners.delete(onChange);
    };
  }

  #read(ref: string): { state: PluginState; revision: number } | undefined {
    const file = this.#statePath(ref);
    if (!existsSync(file)) return undefined;
    return JSON.parse(readFileSync(file, 'utf8')) as { state: PluginState; revision: number };
  }

  // Delivered asynchronously, as a KV watch would, so a writer never runs host code inside its own call.
  #notify(ref: string): void {
    for (const listener of this.#listeners) soon(() => listener(ref));
  }

  #statePath(ref: string): string {
    return join(this.#root, ref, 'state.json');
  }

  #bundlePath(ref: string, version: string): string {
    return join(this.#root, ref, 'versions', `${version}.json`);
  }
}

function writeAtomic(file: string, text: string): void {
  mkdirSync(join(file, '..'), { recursive: true });
  const temp = `${file}.${pid}.tmp`;
  writeFileSync(temp, text);
  renameSync(temp, file);
}
