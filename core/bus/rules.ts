/**
 * Argument rules both bus implementations enforce identically, so code that runs on the embedded memory bus
 * does not start failing when pointed at NATS. The limits are nats-server 2.9's: a bucket TTL under 100 ms is
 * refused by the server, keys and bucket names follow JetStream KV's character sets.
 */
import type { KvOptions } from './types.js';

/** nats-server refuses a stream max_age below this ("max age needs to be >= 100ms"). */
export const MIN_KV_TTL_MS = 100;

/** The largest per-key history JetStream KV clients allow. */
export const MAX_KV_HISTORY = 64;

const KEY_CHARS = /^[-/=.\w]+$/;
const BUCKET_CHARS = /^[-\w]+$/;

/** Keys: `[-/_=.a-zA-Z0-9]+`, no leading, trailing or doubled dot (each dot separates subject tokens). */
export function assertKvKey(key: string): void {
  if (typeof key !== 'string' || !KEY_CHARS.test(key) || key.startsWith('.') || key.endsWith('.') || key.includes('..')) {
    throw new RangeError(`invalid KV key "${key}": use [-/_=.a-zA-Z0-9], no leading, trailing or doubled dot`);
  }
}

/** A prefix may be empty or end with a dot, but otherwise uses key characters. */
export function assertKvPrefix(prefix: string): void {
  if (prefix === '') return;
  if (!KEY_CHARS.test(prefix) || prefix.startsWith('.') || prefix.includes('..')) {
    throw new RangeError(`invalid KV key prefix "${prefix}"`);
  }
}

export function assertBucket(bucket: string): void {
  if (typeof bucket !== 'string' || !BUCKET_CHARS.test(bucket)) {
    throw new RangeError(`invalid KV bucket name "${bucket}": use [-_a-zA-Z0-9] (see bucketName())`);
  }
}

export function assertRevision(revision: number): void {
  if (!Number.isSafeInteger(revision) || revision < 1) {
    throw new RangeError(`invalid KV revision ${revision}: a positive integer from get() or a write (use create() for absent keys)`);
  }
}

export function assertTimeout(timeoutMs: number): void {
  if (!Number.isFinite(timeoutMs) || timeoutMs < 1) {
    throw new RangeError(`invalid request timeout ${timeoutMs}: must be at least 1 ms`);
  }
}

/** Validated bucket options with defaults filled in. */
export function normaliseKvOptions(options: KvOptions = {}): Required<KvOptions> {
  const ttlMs = options.ttlMs ?? 0;
  const history = options.history ?? 1;
  if (!Number.isFinite(ttlMs) || ttlMs < 0 || (ttlMs > 0 && ttlMs < MIN_KV_TTL_MS)) {
    throw new RangeError(`invalid KV ttlMs ${ttlMs}: 0 (forever) or at least ${MIN_KV_TTL_MS} ms`);
  }
  if (!Number.isInteger(history) || history < 1 || history > MAX_KV_HISTORY) {
    throw new RangeError(`invalid KV history ${history}: 1 to ${MAX_KV_HISTORY}`);
  }
  return { ttlMs, history };
}

/**
 * The longest whole-token part of a prefix, as a NATS filter (`a.b.c` → `a.b.>`, `a.b.` → `a.b.>`, `ab` → `>`).
 * Filtering on the server by it and by `startsWith` on the client gives exactly the keys with that prefix.
 */
export function prefixFilter(prefix: string): string {
  const lastDot = prefix.lastIndexOf('.');
  return lastDot <= 0 ? '>' : `${prefix.slice(0, lastDot)}.>`;
}

/** The text of a rejection, never empty, for BusHandlerError messages (anything can be thrown). */
export function reasonOf(err: unknown): string {
  return describe(err) || 'unspecified error';
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  if (typeof err === 'string') return err;
  try {
    return JSON.stringify(err) ?? String(err);
  } catch {
    return String(err);
  }
}
