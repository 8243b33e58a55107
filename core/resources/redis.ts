/**
 * The `redis` provider (Routr v1's `redis_data_provider`): resources as JSON documents in Redis 6+, one key per
 * resource, shared by every node.
 *
 *   <prefix>:<Kind>:<ref>      the document as JSON (prefix default `routr:resources`; refs never contain ':')
 *   <prefix>:_meta:version     incremented by every apply and delete routr makes
 *   <prefix>:_meta:changes     a pub/sub channel routr publishes each change on
 *
 * Every node loads the whole set (SCAN + MGET) and validates it whole: a set that does not validate is logged with
 * every problem and the running set stays in place (at startup, routr refuses to start, as with files). Nodes
 * reload when the change channel says so, on keyspace notifications for keys written by hand (`redis-cli SET`;
 * routr turns them on with CONFIG SET when allowed), and on a slow poll for servers that allow neither.
 *
 * Applies and deletes are optimistic transactions: WATCH the version key and every resource key, read and
 * validate the whole resulting set, then MULTI (SET/DEL, INCR version, PUBLISH) / EXEC; a transaction another
 * writer got in front of is retried on the new state, and answers conflict after a few tries. A key written by
 * hand between the read and the EXEC of a resource routr did not know about is the one race this cannot see.
 */
import { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import { pid } from '../runtime/process.js';
import { formatProblem, ResourceError, type Problem } from './problems.js';
import { ResourceSet } from './set.js';
import { checkDelete, Listeners, planApply, type ApplyOptions, type ApplyResult, type ChangeListener, type DeleteResult, type ResourceStore, type StoredDocument } from './store.js';
import { isKind, type Kind } from './types.js';
import { checkDocuments, validateDocuments } from './validate.js';
import type { SourceDocument } from './yaml.js';

export const REDIS_DEFAULT_PREFIX = 'routr:resources';
const TRANSACTION_TRIES = 5;
const SCAN_COUNT = 1000;

export interface RedisStoreOptions {
  host?: string;
  port?: number;
  /** The password (Routr v1's `secret`); with `username` for a Redis 6 ACL user. */
  secret?: string;
  username?: string;
  db?: number;
  prefix?: string;
  logger: Logger;
  /** This node's name, in change messages. */
  node?: string;
  /** Turn keyspace notifications on (CONFIG SET) so hand-written keys are seen at once (default true). */
  keyspaceNotifications?: boolean;
  /** Reload this often anyway, in ms (default 5000; 0: never): for servers with neither notifications nor routr writers. */
  pollMs?: number;
  /** Quiet time after a change before reloading, in ms (default 30): one apply writes several keys. */
  debounceMs?: number;
}

export class RedisResourceStore implements ResourceStore {
  readonly provider = 'redis' as const;
  readonly prefix: string;
  #set = ResourceSet.EMPTY;
  /** Problems of the stored set when it does not validate (the running set is then the last good one). */
  problems: Problem[] = [];
  readonly #client: Redis;
  /** WATCH state belongs to a connection: transactions get their own, used by one operation at a time. */
  readonly #tx: Redis;
  readonly #subscriber: Redis;
  readonly #logger: Logger;
  readonly #node: string;
  readonly #listeners = new Listeners();
  readonly #options: RedisStoreOptions;
  #queue: Promise<unknown> = Promise.resolve();
  #debounce: ReturnType<typeof setTimeout> | undefined;
  #poller: ReturnType<typeof setInterval> | undefined;
  #lastLogged = '';
  #lastError: string | undefined;
  #closed = false;

  private constructor(options: RedisStoreOptions) {
    this.#options = options;
    this.prefix = options.prefix ?? REDIS_DEFAULT_PREFIX;
    this.#logger = options.logger;
    this.#node = options.node ?? `pid-${pid}`;
    const connection = {
      host: options.host ?? 'localhost',
      port: options.port ?? 6379,
      password: options.secret,
      username: options.username,
      db: options.db ?? 0,
      lazyConnect: true,
      // An apply while Redis is away fails in seconds (and says so) instead of queueing without end.
      maxRetriesPerRequest: 2,
      connectTimeout: 5000,
    };
    this.#client = new Redis({ ...connection, connectionName: `routr-${this.#node}` });
    this.#tx = new Redis({ ...connection, connectionName: `routr-${this.#node}-tx` });
    this.#subscriber = new Redis({ ...connection, connectionName: `routr-${this.#node}-watch`, maxRetriesPerRequest: null });
    for (const [name, redis] of [['client', this.#client], ['tx', this.#tx], ['subscriber', this.#subscriber]] as const) {
      // ioredis reconnects by itself; an unhandled 'error' event would end the process.
      redis.on('error', (err: Error) => {
        this.#lastError = err.message;
        this.#logger.warn({ connection: name, err: err.message }, 'redis connection error');
      });
    }
  }

  /** Connect, subscribe, load the whole set; throws ResourceError when it does not validate. */
  static async open(options: RedisStoreOptions): Promise<RedisResourceStore> {
    const store = new RedisResourceStore(options);
    try {
      try {
        await Promise.all([store.#client.connect(), store.#tx.connect(), store.#subscriber.connect()]);
        await store.#watch();
      } catch (err) {
        // ioredis reports a refused AUTH as "Connection is closed": the error event said why.
        const { host = 'localhost', port = 6379 } = options;
        throw new Error(`cannot use redis at ${host}:${port}: ${store.#lastError ?? (err as Error).message}`, { cause: err });
      }
      const built = await store.#build();
      if (!built.set) throw new ResourceError(`invalid resources in redis (${store.prefix}:*)`, built.problems);
      store.#set = built.set;
      options.logger.info({ prefix: store.prefix, resources: built.set.size }, 'resources loaded');
    } catch (err) {
      await store.close();
      throw err;
    }
    return store;
  }

  current(): ResourceSet {
    return this.#set;
  }

  onChange(listener: ChangeListener): () => void {
    return this.#listeners.add(listener);
  }

  /** The key a resource lives under. */
  key(kind: Kind, ref: string): string {
    return `${this.prefix}:${kind}:${ref}`;
  }

  get #versionKey(): string {
    return `${this.prefix}:_meta:version`;
  }

  get #channel(): string {
    return `${this.prefix}:_meta:changes`;
  }

  /** Read the whole set again; swap when it validates and differs. */
  reload(): Promise<void> {
    return this.#serial(() => this.#reload('reload'));
  }

  apply(documents: SourceDocument[], options: ApplyOptions = {}): Promise<ApplyResult> {
    return this.#serial(async (): Promise<ApplyResult> => {
      try {
        for (let attempt = 0; attempt < TRANSACTION_TRIES; attempt++) {
          const stored = await this.#readWatched();
          const plan = planApply(stored, documents, options);
          if (!plan.ok || plan.writes.length === 0) {
            await this.#tx.unwatch();
            return plan.ok ? { ok: true, changes: plan.changes, warnings: plan.warnings } : { ok: false, status: plan.failure, problems: plan.problems, warnings: plan.warnings };
          }
          const keys = plan.writes.map((e) => this.key(e.resource.kind, e.resource.ref));
          const multi = this.#tx.multi();
          plan.writes.forEach((entry, i) => multi.set(keys[i], JSON.stringify(entry.input ?? entry.resource)));
          if (await this.#commit(multi, keys)) return { ok: true, changes: plan.changes, warnings: plan.warnings };
        }
        return { ok: false, status: 'conflict', problems: [busy()], warnings: [] };
      } catch (err) {
        return { ok: false, status: 'conflict', problems: [unavailable(err)], warnings: [] };
      }
    });
  }

  delete(kind: Kind, ref: string): Promise<DeleteResult> {
    return this.#serial(async (): Promise<DeleteResult> => {
      try {
        const key = this.key(kind, ref);
        for (let attempt = 0; attempt < TRANSACTION_TRIES; attempt++) {
          const stored = await this.#readWatched();
          if (!stored.some((s) => s.id === `${kind}/${ref}`)) {
            await this.#tx.unwatch();
            return { ok: false, status: 'not-found', problems: [{ kind, ref, message: 'does not exist' }] };
          }
          // Referrers among the documents that validate on their own (a broken one is no reason to keep anything).
          const valid = checkDocuments(stored.map((s) => s.document), { servers: 'refuse' });
          const allowed = checkDelete(new ResourceSet(valid.entries), { kind, ref });
          if (!allowed.ok && allowed.status !== 'not-found') {
            await this.#tx.unwatch();
            return allowed;
          }
          if (await this.#commit(this.#tx.multi().del(key), [key])) return { ok: true };
        }
        return { ok: false, status: 'conflict', problems: [busy()] };
      } catch (err) {
        return { ok: false, status: 'conflict', problems: [unavailable(err)] };
      }
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#debounce) clearTimeout(this.#debounce);
    if (this.#poller) clearInterval(this.#poller);
    await this.#queue.catch(() => {});
    await Promise.all([this.#client, this.#tx, this.#subscriber].map((r) => r.quit().catch(() => r.disconnect())));
  }

  /** INCR the version and PUBLISH the change inside the transaction; false when a watched key changed first. */
  async #commit(multi: ReturnType<Redis['multi']>, keys: string[]): Promise<boolean> {
    multi.incr(this.#versionKey).publish(this.#channel, JSON.stringify({ node: this.#node, keys }));
    const results = await multi.exec();
    if (results === null) return false;
    const failed = results.find(([err]) => err);
    if (failed) throw failed[0];
    // Read your own writes: the caller's next read on this node sees the change.
    await this.#reload('apply');
    return true;
  }

  /** On the transaction connection: WATCH the version and every resource key, then read them. */
  async #readWatched(): Promise<StoredDocument[]> {
    const keys = await this.#scan(this.#tx);
    await this.#tx.watch(this.#versionKey, ...keys);
    return this.#read(this.#tx, keys);
  }

  async #scan(redis: Redis): Promise<string[]> {
    const keys: string[] = [];
    let cursor = '0';
    const pattern = `${globEscape(this.prefix)}:*`;
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
      cursor = next;
      keys.push(...batch.filter((k) => !k.startsWith(`${this.prefix}:_meta:`)));
    } while (cursor !== '0');
    return [...new Set(keys)].sort();
  }

  /** The stored documents, each known by the Kind/ref its key names; a value that is not JSON is a document that fails. */
  async #read(redis: Redis, keys: string[]): Promise<StoredDocument[]> {
    const out: StoredDocument[] = [];
    for (let i = 0; i < keys.length; i += SCAN_COUNT) {
      const batch = keys.slice(i, i + SCAN_COUNT);
      const values = await redis.mget(...batch);
      batch.forEach((key, j) => {
        const text = values[j];
        if (text === null) return; // deleted since the scan
        const named = this.#named(key);
        let value: unknown;
        try {
          value = JSON.parse(text);
        } catch {
          value = { invalid: `${key}: the value is not JSON` };
        }
        out.push({ id: named ? `${named.kind}/${named.ref}` : key, document: { value, source: { file: `redis:${key}` } } });
      });
    }
    return out;
  }

  #named(key: string): { kind: Kind; ref: string } | undefined {
    const [kind, ...rest] = key.slice(this.prefix.length + 1).split(':');
    return isKind(kind) && rest.length === 1 ? { kind, ref: rest[0] } : undefined;
  }

  async #build(): Promise<{ set?: ResourceSet; problems: Problem[] }> {
    const stored = await this.#read(this.#client, await this.#scan(this.#client));
    const checked = validateDocuments(stored.map((s) => s.document), { servers: 'refuse' });
    const problems = [...checked.problems];
    // A document must live under its own key, or an apply could never find it again.
    for (const entry of checked.entries) {
      const file = entry.source.file ?? '';
      const expected = `redis:${this.key(entry.resource.kind, entry.resource.ref)}`;
      if (file !== expected) problems.push({ file, kind: entry.resource.kind, ref: entry.resource.ref, message: `is stored under the wrong key: it belongs at ${expected.slice(6)}` });
    }
    return problems.length ? { problems } : { set: new ResourceSet(checked.entries), problems };
  }

  async #reload(reason: string): Promise<void> {
    if (this.#closed) return;
    const built = await this.#build();
    this.problems = built.problems;
    if (!built.set) {
      const text = built.problems.map(formatProblem).join('\n');
      if (text !== this.#lastLogged) this.#logger.error({ reason, problems: built.problems.map(formatProblem) }, 'stored resources do not validate; the running set stays in place');
      this.#lastLogged = text;
      return;
    }
    this.#lastLogged = '';
    if (built.set.digest === this.#set.digest) return;
    const previous = this.#set;
    this.#set = built.set;
    this.#logger.info({ reason, resources: built.set.size }, 'resources updated');
    this.#listeners.emit(built.set, previous, (err) => this.#logger.error({ err }, 'resources change listener threw'));
  }

  #schedule(reason: string): void {
    if (this.#closed) return;
    if (this.#debounce) clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => {
      this.#debounce = undefined;
      void this.#serial(() => this.#reload(reason)).catch((err: unknown) => this.#logger.warn({ err: (err as Error).message }, 'resources reload from redis failed; the running set stays in place'));
    }, this.#options.debounceMs ?? 30);
  }

  /** The change channel, keyspace notifications for the prefix, and the safety poll. */
  async #watch(): Promise<void> {
    const keyspace = `__keyspace@${this.#options.db ?? 0}__:${globEscape(this.prefix)}:*`;
    this.#subscriber.on('message', () => this.#schedule('change published'));
    this.#subscriber.on('pmessage', () => this.#schedule('key changed'));
    // After a reconnect, what changed while we were away was never announced.
    let connected = true;
    this.#subscriber.on('close', () => (connected = false));
    this.#subscriber.on('ready', () => {
      if (!connected) this.#schedule('reconnected');
      connected = true;
    });
    await this.#subscriber.subscribe(this.#channel);
    await this.#subscriber.psubscribe(keyspace);
    if (this.#options.keyspaceNotifications !== false) await this.#enableKeyspaceNotifications();
    const pollMs = this.#options.pollMs ?? 5000;
    if (pollMs > 0) {
      this.#poller = setInterval(() => this.#schedule('poll'), pollMs);
      this.#poller.unref?.();
    }
  }

  /** Keyspace events for string and generic commands (K$g), merged into what the server already has. */
  async #enableKeyspaceNotifications(): Promise<void> {
    try {
      const [, current = ''] = (await this.#client.config('GET', 'notify-keyspace-events')) as string[];
      const has = (flag: string) => current.includes(flag) || (current.includes('A') && flag !== 'K' && flag !== 'E');
      const missing = ['K', '$', 'g'].filter((f) => !has(f)).join('');
      if (missing) await this.#client.config('SET', 'notify-keyspace-events', current + missing);
    } catch (err) {
      this.#logger.warn({ err: (err as Error).message }, `cannot turn on redis keyspace notifications: keys written by hand are seen by the ${(this.#options.pollMs ?? 5000) / 1000} s poll only`);
    }
  }

  #serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => {});
    return run;
  }
}

function busy(): Problem {
  return { message: 'the resources in redis kept changing under this change (other writers); nothing applied, try again' };
}

function unavailable(err: unknown): Problem {
  return { message: `redis did not take the change: ${(err as Error).message}; nothing applied` };
}

/** A Redis glob pattern matching `text` literally. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
