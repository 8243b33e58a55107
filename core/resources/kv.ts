/**
 * The `nats` provider: resources in a JetStream KV bucket (`bucketName('resources')`), one key per resource
 * (`<Kind>.<escaped ref>`, value: the document as JSON), watched by every node, so an apply on one node is
 * seen by all. It runs on any Bus (JetStream KV on NATS, the in-process KV in tests).
 *
 * Concurrency, which the README documents:
 * - Applies and deletes are serialised cluster-wide by a lock key (`_meta.lock`, taken with create(), so one
 *   holder at a time; a holder that died is taken over after LOCK_STALE_MS by compare-and-set).
 * - The lock holder first waits until its own mirror has seen its lock write (the stream is ordered, so every
 *   earlier write, the last commit included, has been seen too), then validates the whole
 *   resulting set against it, then writes each key by compare-and-set on the revision it validated against,
 *   then writes `_meta.commit` naming the keys it wrote. A compare-and-set failure (someone
 *   writing around the lock) rolls the keys already written back and refuses the apply.
 * - Watchers rebuild their snapshot when a commit arrives (the stream is ordered, so every key it names has
 *   already been seen) and swap only to a set that validates: no node ever serves half an apply. Writes that
 *   carry no commit (`nats kv put` by hand) are picked up after a quiet period, on the same terms.
 */
import { bucketName, fromSubjectToken, subjectToken } from '../bus/subjects.js';
import { KvConflictError, type Bus, type KvStore, type KvWatchEvent } from '../bus/types.js';
import type { Logger } from '../log.js';
import { formatProblem, type Problem } from './problems.js';
import { ResourceSet } from './set.js';
import { checkDelete, Listeners, planApply, type ApplyOptions, type ApplyResult, type ChangeListener, type DeleteResult, type ResourceStore, type StoredDocument } from './store.js';
import { isKind, type Kind } from './types.js';
import { checkDocuments, validateDocuments } from './validate.js';
import type { SourceDocument } from './yaml.js';
import { pid } from '../runtime/process.js';

/** Keys of routr's own bookkeeping; resource keys start with a kind name, so they never collide. */
const META_PREFIX = '_meta.';
const LOCK_KEY = `${META_PREFIX}lock`;
const COMMIT_KEY = `${META_PREFIX}commit`;
const LOCK_STALE_MS = 15_000;
const LOCK_WAIT_MS = 10_000;
const QUIET_MS = 250;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface KvStoreOptions {
  bus: Bus;
  logger: Logger;
  /** This node's name in the lock (for the "held by" message). */
  node?: string;
  /** Bucket name; default `bucketName('resources')`. */
  bucket?: string;
  /** How long an apply waits for another node's apply to finish before answering conflict (ms, default 10 s). */
  lockWaitMs?: number;
}

interface Slot {
  revision: number;
  value: Record<string, unknown>;
}

interface Written {
  key: string;
  revision: number;
  previous?: Slot;
}

export function resourceKey(kind: Kind, ref: string): string {
  return `${kind}.${subjectToken(ref)}`;
}

export class KvResourceStore implements ResourceStore {
  readonly provider = 'nats' as const;
  #set = ResourceSet.EMPTY;
  /** Every resource key as last seen, with its revision: the mirror sets are built from. */
  readonly #mirror = new Map<string, Slot>();
  /** Highest revision the mirror has seen (bucket-wide). */
  #seen = 0;
  #quiet: ReturnType<typeof setTimeout> | undefined;
  /** Resource keys changed since the last rebuild. */
  #dirty = false;
  /** When another (or this) node took the lock, as seen by the watch; undefined while it is free. */
  #lockSince: number | undefined;
  #stopWatch: (() => Promise<void>) | undefined;
  readonly #kv: KvStore;
  readonly #logger: Logger;
  readonly #node: string;
  readonly #lockWaitMs: number;
  readonly #listeners = new Listeners();
  readonly #waiters = new Set<{ revision: number; resolve: () => void }>();
  /** Problems of the stored set when it does not validate (logged; the running set stays the last good one). */
  problems: Problem[] = [];

  private constructor(kv: KvStore, options: KvStoreOptions) {
    this.#kv = kv;
    this.#logger = options.logger;
    this.#node = options.node ?? `pid-${pid}`;
    this.#lockWaitMs = options.lockWaitMs ?? LOCK_WAIT_MS;
  }

  /** Open the bucket, start watching, then read what is there (events during the read are merged by revision). */
  static async open(options: KvStoreOptions): Promise<KvResourceStore> {
    const kv = await options.bus.kv(options.bucket ?? bucketName('resources'));
    const store = new KvResourceStore(kv, options);
    const buffered: KvWatchEvent[] = [];
    let live = false;
    store.#stopWatch = await kv.watch((event) => (live ? store.#onEvent(event) : buffered.push(event)));
    for (const key of await kv.keys()) {
      if (key.startsWith(META_PREFIX)) continue;
      const entry = await kv.get(key);
      if (entry) store.#record(key, entry.value, entry.revision);
    }
    for (const event of buffered) store.#onEvent(event);
    live = true;
    store.#rebuild('startup');
    return store;
  }

  current(): ResourceSet {
    return this.#set;
  }

  onChange(listener: ChangeListener): () => void {
    return this.#listeners.add(listener);
  }

  async apply(documents: SourceDocument[], options: ApplyOptions = {}): Promise<ApplyResult> {
    const result = await this.#locked(async (): Promise<ApplyResult> => {
      const plan = planApply(this.#stored(), documents, options);
      if (!plan.ok) return { ok: false, status: plan.failure, problems: plan.problems, warnings: plan.warnings };
      if (plan.writes.length === 0) return { ok: true, changes: plan.changes, warnings: plan.warnings };
      const written: Written[] = [];
      try {
        for (const entry of plan.writes) {
          const key = resourceKey(entry.resource.kind, entry.resource.ref);
          const previous = this.#mirror.get(key);
          const value = encoder.encode(JSON.stringify(entry.input ?? entry.resource));
          const revision = previous ? await this.#kv.update(key, value, previous.revision) : await this.#kv.create(key, value);
          written.push({ key, revision, previous });
        }
      } catch (err) {
        if (!(err instanceof KvConflictError)) throw err;
        await this.#rollBack(written);
        return { ok: false, status: 'conflict', problems: [{ message: `the store changed outside routr's lock (${err.message}); nothing applied, try again` }], warnings: plan.warnings };
      }
      await this.#commit(written.map((w) => w.key));
      return { ok: true, changes: plan.changes, warnings: plan.warnings };
    });
    return 'busy' in result ? { ok: false, status: 'conflict', problems: [result.busy], warnings: [] } : result;
  }

  async delete(kind: Kind, ref: string): Promise<DeleteResult> {
    const result = await this.#locked(async (): Promise<DeleteResult> => {
      const key = resourceKey(kind, ref);
      if (!this.#mirror.has(key)) return { ok: false, status: 'not-found', problems: [{ kind, ref, message: 'does not exist' }] };
      // Referrers among the documents that validate on their own; a document that does not is no reason to keep
      // anything (and may itself be what is being deleted).
      const valid = checkDocuments(this.#stored().map((s) => s.document), { servers: 'refuse' });
      const allowed = checkDelete(new ResourceSet(valid.entries), { kind, ref });
      if (!allowed.ok && allowed.status !== 'not-found') return allowed;
      await this.#kv.delete(key);
      await this.#commit([key]);
      return { ok: true };
    });
    return 'busy' in result ? { ok: false, status: 'conflict', problems: [result.busy] } : result;
  }

  async close(): Promise<void> {
    if (this.#quiet) clearTimeout(this.#quiet);
    await this.#stopWatch?.().catch(() => {});
    for (const waiter of this.#waiters) waiter.resolve();
  }

  #onEvent(event: KvWatchEvent): void {
    this.#seen = Math.max(this.#seen, event.revision);
    if (event.key === COMMIT_KEY && event.value) {
      this.#rebuild('commit');
    } else if (event.key === LOCK_KEY) {
      this.#lockSince = event.value ? Date.now() : undefined;
      // An apply that ended without a commit (refused, rolled back) may still have left changes to look at.
      if (!event.value && this.#dirty) this.#scheduleQuiet();
    } else if (!event.key.startsWith(META_PREFIX)) {
      this.#record(event.key, event.value, event.revision);
      this.#dirty = true;
      this.#scheduleQuiet();
    }
    for (const waiter of this.#waiters) {
      if (this.#seen >= waiter.revision) {
        this.#waiters.delete(waiter);
        waiter.resolve();
      }
    }
  }

  /**
   * Writes with no commit after them (by hand, or by a writer that died) are rebuilt once things go quiet —
   * but not while an apply holds the lock, whose commit is coming: that would serve half of it.
   */
  #scheduleQuiet(): void {
    if (this.#quiet) clearTimeout(this.#quiet);
    this.#quiet = setTimeout(() => {
      const applying = this.#lockSince !== undefined && Date.now() - this.#lockSince < LOCK_STALE_MS;
      if (applying) this.#scheduleQuiet();
      else this.#rebuild('change without a commit');
    }, QUIET_MS);
    this.#quiet.unref?.();
  }

  #record(key: string, value: Uint8Array | null, revision: number): void {
    this.#seen = Math.max(this.#seen, revision);
    const current = this.#mirror.get(key);
    if (current && current.revision >= revision) return;
    if (value === null) {
      this.#mirror.delete(key);
      return;
    }
    try {
      this.#mirror.set(key, { revision, value: JSON.parse(decoder.decode(value)) as Record<string, unknown> });
    } catch {
      this.#mirror.set(key, { revision, value: { invalid: `KV ${key}: value is not JSON` } });
    }
  }

  #build(): { set?: ResourceSet; problems: Problem[] } {
    const checked = validateDocuments(this.#stored().map((s) => s.document), { servers: 'refuse' });
    return checked.ok ? { set: new ResourceSet(checked.entries), problems: [] } : { problems: checked.problems };
  }

  #rebuild(reason: string): void {
    if (this.#quiet) clearTimeout(this.#quiet);
    this.#quiet = undefined;
    this.#dirty = false;
    const built = this.#build();
    this.problems = built.problems;
    if (!built.set) {
      this.#logger.error({ reason, problems: built.problems.map(formatProblem) }, 'stored resources do not validate; the running set stays in place');
      return;
    }
    if (built.set.digest === this.#set.digest) return;
    const previous = this.#set;
    this.#set = built.set;
    this.#logger.info({ reason, resources: built.set.size }, 'resources updated');
    this.#listeners.emit(built.set, previous, (err) => this.#logger.error({ err }, 'resources change listener threw'));
  }

  /** The mirror as documents, each known by `Kind/ref` from its key. */
  #stored(): StoredDocument[] {
    return [...this.#mirror.entries()].map(([key, slot]) => ({ id: describeKey(key), document: { value: slot.value, source: { file: `kv:${describeKey(key)}` } } }));
  }

  async #commit(keys: string[]): Promise<void> {
    const body = { node: this.#node, at: Date.now(), keys };
    const revision = await this.#kv.put(COMMIT_KEY, encoder.encode(JSON.stringify(body)));
    // Read your own writes: the caller's next get on this node sees the change.
    await this.#caughtUp(revision);
  }

  async #rollBack(written: Written[]): Promise<void> {
    for (const w of written.reverse()) {
      try {
        if (w.previous) await this.#kv.update(w.key, encoder.encode(JSON.stringify(w.previous.value)), w.revision);
        else await this.#kv.delete(w.key);
      } catch (err) {
        this.#logger.error({ err, key: w.key }, 'could not roll back a resource write');
      }
    }
  }

  /** Run `task` holding the cluster-wide lock, with the mirror caught up to the lock write; `busy` if it is held. */
  async #locked<T>(task: () => Promise<T>): Promise<T | { busy: Problem }> {
    const revision = await this.#acquire();
    if (typeof revision !== 'number') return { busy: revision };
    try {
      await this.#caughtUp(revision);
      return await task();
    } finally {
      await this.#kv.delete(LOCK_KEY).catch((err: unknown) => this.#logger.warn({ err }, 'could not release the resources lock'));
    }
  }

  async #acquire(): Promise<number | Problem> {
    const deadline = Date.now() + this.#lockWaitMs;
    const value = () => encoder.encode(JSON.stringify({ node: this.#node, at: Date.now() }));
    for (let delay = 10; ; delay = Math.min(delay * 2, 200)) {
      try {
        return await this.#kv.create(LOCK_KEY, value());
      } catch (err) {
        if (!(err instanceof KvConflictError)) throw err;
      }
      const held = await this.#kv.get(LOCK_KEY);
      if (held) {
        const holder = JSON.parse(decoder.decode(held.value)) as { node: string; at: number };
        if (Date.now() - holder.at > LOCK_STALE_MS) {
          try {
            this.#logger.warn({ holder }, 'taking over a stale resources lock');
            return await this.#kv.update(LOCK_KEY, value(), held.revision);
          } catch (err) {
            if (!(err instanceof KvConflictError)) throw err;
          }
        }
        if (Date.now() > deadline) return { message: `another change to the resources is in progress (lock held by ${holder.node}); try again` };
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  /** Resolves once the watch has delivered `revision` (bounded: a stalled watch must not hang the API). */
  #caughtUp(revision: number): Promise<void> {
    if (this.#seen >= revision) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = { revision, resolve: () => (clearTimeout(timer), resolve()) };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        this.#logger.warn({ revision, seen: this.#seen }, 'resources watch is behind; answering from what it has');
        resolve();
      }, 5000);
      this.#waiters.add(waiter);
    });
  }
}

/** `Agent/agent-01` for ids and messages (the key with its ref unescaped). */
function describeKey(key: string): string {
  const dot = key.indexOf('.');
  const kind = key.slice(0, dot);
  return dot > 0 && isKind(kind) ? `${kind}/${fromSubjectToken(key.slice(dot + 1))}` : key;
}

