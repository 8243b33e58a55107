/**
 * The bus: how edges and processor hosts talk. One interface, two implementations that pass one contract suite
 * (`test/contract/bus.case.ts`): NATS for clusters and an in-process bus for the embedded default.
 *
 * Payloads are bytes; callers own their encoding (JSON today). Subjects are versioned (see `subjects.ts`) so a
 * mixed-version cluster fails loudly instead of misreading messages.
 */

export type Payload = Uint8Array;

export interface RequestOptions {
  /** Give up after this long; rejects with BusTimeoutError. */
  timeoutMs: number;
}

export interface ServeOptions {
  /** Members of one queue group share the load; each request reaches exactly one of them. */
  queue?: string;
}

/** Answers a request. A rejection is delivered to the requester as a BusHandlerError. */
export type RequestHandler = (payload: Payload, subject: string) => Promise<Payload> | Payload;
export type MessageHandler = (payload: Payload, subject: string) => void;

export interface Subscription {
  readonly subject: string;
  /** Stop taking new messages, let in-flight handlers finish, then resolve. */
  drain(): Promise<void>;
}

export type BusStatus = 'connected' | 'disconnected' | 'reconnecting' | 'closed';

export interface KvEntry {
  key: string;
  value: Payload;
  revision: number;
}

export interface KvWatchEvent {
  key: string;
  /**
   * null when the key was deleted or purged. Expiry by bucket TTL is not reported: nats-server 2.9 writes no
   * expiry markers, so the memory bus stays silent too and code behaves the same on both.
   */
  value: Payload | null;
  revision: number;
}

export interface KvOptions {
  /**
   * Bucket-wide time to live, counted from each key's last write (nats-server 2.9 has no per-key TTL).
   * 0 or absent: keep forever; otherwise at least 100 ms (the server's minimum).
   */
  ttlMs?: number;
  /** Values kept per key, 1 to 64. Default 1. (Only the latest is readable through this interface.) */
  history?: number;
}

/**
 * A key/value bucket: JetStream KV on NATS, a Map in process. Keys: [-/_=.a-zA-Z0-9]+ (NATS rules); invalid keys
 * and options reject with RangeError. Revisions increase across the whole bucket, not per key. Opening an
 * existing bucket keeps its original options.
 */
export interface KvStore {
  readonly bucket: string;
  get(key: string): Promise<KvEntry | null>;
  /** Write unconditionally; resolves to the new revision. */
  put(key: string, value: Payload): Promise<number>;
  /** Write only if the key does not exist; rejects with KvConflictError otherwise. */
  create(key: string, value: Payload): Promise<number>;
  /**
   * Write only if the key's revision is still `revision` (compare and set); KvConflictError otherwise,
   * including when the key has since been deleted or has expired.
   */
  update(key: string, value: Payload, revision: number): Promise<number>;
  delete(key: string): Promise<void>;
  /** Keys currently present, sorted, optionally only those starting with `prefix` (plain string prefix). */
  keys(prefix?: string): Promise<string[]>;
  /**
   * Every change after the call (not the current contents), delivered asynchronously and in order; returns a
   * stop function. A throwing handler is logged and does not stop the watch.
   */
  watch(handler: (event: KvWatchEvent) => void, options?: { prefix?: string }): Promise<() => Promise<void>>;
}

export interface Bus {
  readonly kind: 'memory' | 'nats';
  request(subject: string, payload: Payload, options: RequestOptions): Promise<Payload>;
  serve(subject: string, handler: RequestHandler, options?: ServeOptions): Subscription;
  /** Fire and forget; throws BusClosedError after close. */
  publish(subject: string, payload: Payload): void;
  subscribe(subject: string, handler: MessageHandler): Subscription;
  /**
   * Whether any subscriber on this bus could receive a publish on `subject`, where that is known (the memory
   * bus knows all of them); absent where remote interest is unknown (NATS). Lets publishers of optional traffic
   * (events) skip building messages nobody would read.
   */
  hasSubscribers?(subject: string): boolean;
  kv(bucket: string, options?: KvOptions): Promise<KvStore>;
  /**
   * Resolves once the server has seen every subscription made on this bus so far, so another node's request
   * will find them (NATS sends subscriptions asynchronously). Immediate on the memory bus.
   */
  flush(): Promise<void>;
  status(): BusStatus;
  onStatus(listener: (status: BusStatus) => void): () => void;
  /** Drain subscriptions and close. Idempotent. */
  close(): Promise<void>;
}

/** Every bus failure; `cause` carries the underlying client error where there is one. */
export class BusError extends Error {
  override name = 'BusError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
/** No handler is serving the subject (NATS "no responders"). */
export class BusNoRespondersError extends BusError {
  override name = 'BusNoRespondersError';
}
export class BusTimeoutError extends BusError {
  override name = 'BusTimeoutError';
}
/** The remote handler rejected; message carries its reason. */
export class BusHandlerError extends BusError {
  override name = 'BusHandlerError';
}
export class BusClosedError extends BusError {
  override name = 'BusClosedError';
}
export class KvConflictError extends BusError {
  override name = 'KvConflictError';
}
