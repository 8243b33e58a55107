/**
 * The plugin store on a bus KV bucket (`routr_v1_plugins`): JetStream KV when the bus is NATS, so every host
 * in the cluster sees an install at once through its watch. Keys: `<ref>.state` (the state record, written
 * with compare-and-set on its revision) and `<ref>.v.<version>` (one bundle each, the version escaped into
 * key characters). Bundles are capped well under NATS's default 1 MiB message size (MAX_BUNDLE_BYTES).
 */
import { bucketName } from '../bus/subjects.js';
import { KvConflictError, type Bus, type KvStore } from '../bus/types.js';
import { checkBundle, type PluginBundle } from './bundle.js';
import { StoreConflictError, type PluginState, type StoreBackend } from './store.js';

export const PLUGINS_BUCKET = bucketName('plugins');

const STATE_SUFFIX = '.state';
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** `1.2.0-rc.1` → `1=2e2=2e0-rc=2e1`: dots would split key tokens, `+` is not a key character. */
function versionKey(version: string): string {
  return version.replace(/[^-\w]/g, (c) => `=${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

export class KvBackend implements StoreBackend {
  readonly kind = 'kv';
  readonly #kv: KvStore;

  private constructor(kv: KvStore) {
    this.#kv = kv;
  }

  /** Rejects (BusError) when the bus has no KV, e.g. a nats-server without JetStream. */
  static async open(bus: Bus): Promise<KvBackend> {
    return new KvBackend(await bus.kv(PLUGINS_BUCKET));
  }

  async refs(): Promise<string[]> {
    return (await this.#kv.keys()).filter((k) => k.endsWith(STATE_SUFFIX)).map((k) => k.slice(0, -STATE_SUFFIX.length));
  }

  async readState(ref: string): Promise<{ state: PluginState; revision: number } | undefined> {
    const entry = await this.#kv.get(ref + STATE_SUFFIX);
    if (!entry) return undefined;
    return { state: JSON.parse(decoder.decode(entry.value)) as PluginState, revision: entry.revision };
  }

  async writeState(ref: string, state: PluginState, revision: number | undefined): Promise<void> {
    const value = encoder.encode(JSON.stringify(state));
    try {
      if (revision === undefined) await this.#kv.create(ref + STATE_SUFFIX, value);
      else await this.#kv.update(ref + STATE_SUFFIX, value, revision);
    } catch (err) {
      if (err instanceof KvConflictError) throw new StoreConflictError(`plugin "${ref}": state changed concurrently`, { cause: err });
      throw err;
    }
  }

  deleteState(ref: string): Promise<void> {
    return this.#kv.delete(ref + STATE_SUFFIX);
  }

  async readBundle(ref: string, version: string): Promise<PluginBundle | undefined> {
    const key = `${ref}.v.${versionKey(version)}`;
    const entry = await this.#kv.get(key);
    return entry ? checkBundle(JSON.parse(decoder.decode(entry.value)), `KV ${PLUGINS_BUCKET} ${key}`) : undefined;
  }

  async writeBundle(ref: string, version: string, bundle: PluginBundle): Promise<void> {
    await this.#kv.put(`${ref}.v.${versionKey(version)}`, encoder.encode(JSON.stringify(bundle)));
  }

  deleteBundle(ref: string, version: string): Promise<void> {
    return this.#kv.delete(`${ref}.v.${versionKey(version)}`);
  }

  watch(onChange: (ref: string) => void): Promise<() => Promise<void>> {
    return this.#kv.watch((event) => {
      if (event.key.endsWith(STATE_SUFFIX)) onChange(event.key.slice(0, -STATE_SUFFIX.length));
    });
  }
}
