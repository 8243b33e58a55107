/**
 * The `kv` capability: a small key/value store per plugin, `routr.kv.get|set|delete|keys`, synchronous so it
 * works on the host-thread fast path. Every host keeps a KvMirror (core/bus/kv-mirror.ts) of one bus KV bucket
 * (`routr_v1_plugin_kv`, JetStream KV on NATS); a plugin's keys are stored as `<plugin ref>.<key>`, so plugins
 * never see each other's data.
 *
 * Consistency is the mirror's: reads come from this host's mirror, a write is seen at once here and by other
 * hosts when their watch delivers it, concurrent writes converge on the bucket's last. No transactions, no
 * compare-and-set; keep values small (64 KiB each, 10,000 keys per plugin).
 *
 * Fixture runs get a scratch mirror (`mode: 'fixtures'`), empty and never persisted.
 */
import { KvMirror } from '../bus/kv-mirror.js';
import { bucketName } from '../bus/subjects.js';
import type { Bus } from '../bus/types.js';
import type { CapabilityProvider } from '../capabilities/index.js';
import type { Logger } from '../log.js';
import { Buffer } from '../runtime/bytes.js';

export const PLUGIN_KV_BUCKET = bucketName('plugin_kv');
export const MAX_KV_VALUE_BYTES = 64 * 1024;
export const MAX_KV_KEYS_PER_PLUGIN = 10_000;
/** NATS key rules (no leading, trailing or doubled dot), and short enough to stay a sane subject. */
const USER_KEY = /^[-\w=/]+(\.[-\w=/]+)*$/;
const MAX_KEY_LENGTH = 200;

/** The host's mirror of the plugin kv bucket. */
export function openPluginKv(bus: Bus, logger: Logger): Promise<KvMirror> {
  return KvMirror.open(bus, logger, { bucket: PLUGIN_KV_BUCKET, maxKeysPerNamespace: MAX_KV_KEYS_PER_PLUGIN });
}

/** An in-memory plugin kv, with the same key limit (fixtures, `routr plugin test`). */
export function scratchPluginKv(): KvMirror {
  return KvMirror.scratch({ maxKeysPerNamespace: MAX_KV_KEYS_PER_PLUGIN });
}

function checkKey(key: unknown): string {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH || !USER_KEY.test(key)) {
    throw new Error(`kv: keys are 1-${MAX_KEY_LENGTH} characters of [-_=/.a-zA-Z0-9], dot-separated (got ${JSON.stringify(key)?.slice(0, 60)})`);
  }
  return key;
}

/** The `kv` provider over a mirror; fixture runs get a scratch mirror of their own. */
export function kvCapability(mirror: KvMirror): CapabilityProvider {
  return {
    name: 'kv',
    description: 'routr.kv.get|set|delete|keys — per-plugin key/value, synchronous reads from a mirror of a bus KV bucket',
    build({ plugin, mode }) {
      const target = mode === 'fixtures' ? scratchPluginKv() : mirror;
      const prefix = `${plugin}.`;
      return {
        'kv.get': { fn: (key) => target.get(prefix + checkKey(key)) ?? null },
        'kv.set': {
          fn: (key, value) => {
            const full = prefix + checkKey(key);
            if (value === null || value === undefined) throw new Error('kv: a value may not be null; use routr.kv.delete');
            const text = JSON.stringify(value);
            if (Buffer.byteLength(text) > MAX_KV_VALUE_BYTES) throw new Error(`kv: values are at most ${MAX_KV_VALUE_BYTES} bytes as JSON`);
            target.set(full, value, text);
          },
        },
        'kv.delete': { fn: (key) => target.delete(prefix + checkKey(key)) },
        'kv.keys': {
          fn: (keyPrefix) => {
            const p = keyPrefix === null || keyPrefix === undefined ? '' : String(keyPrefix);
            return target.keys(prefix + p).map((k) => k.slice(prefix.length));
          },
        },
      };
    },
  };
}
