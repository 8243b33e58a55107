/**
 * Which app instances are connected, as one host knows it. Every host listens to the presence subject of each
 * app declared in `spec.host.apps` (never any other name), checks each heartbeat's signature with that app's
 * token, and keeps the instances that proved they hold it. An instance goes away when it says so (state
 * "down"), when its heartbeats stop (three intervals), or when a request to it finds nobody listening (NATS "no
 * responders": the instance's process is gone). Requests in flight on an instance that goes away are failed
 * over at once (`AppInstance.pending`), so they are retried on another instance within their deadline.
 *
 * A slow instance is probed: when a request has waited on it longer than PROBE_AFTER_MS, the host sends it an
 * unsigned ping, whose only use is the "no responders" answer of an instance that died with requests inside.
 */
import type { Bus, Subscription } from '../bus/types.js';
import { BusNoRespondersError } from '../bus/types.js';
import type { Logger } from '../log.js';
import type { AppMetrics } from './metrics.js';
import {
  ANNOUNCE_SUBJECT,
  AppSigner,
  INSTANCE_ID,
  MAX_PRESENCE_BYTES,
  PING_FRAME,
  decodeFrame,
  instanceSubject,
  noticeSubject,
  presenceSubject,
  type PresenceBody,
} from './protocol.js';

const utf8 = new TextEncoder();
/** Heartbeat intervals an instance may ask for; expiry is three of them. */
const MIN_HEARTBEAT_MS = 100;
const MAX_HEARTBEAT_MS = 10_000;
const MISSED_HEARTBEATS = 3;
const SWEEP_MS = 100;
/** A request waiting this long on one instance gets that instance pinged. */
const PROBE_AFTER_MS = 250;
const PROBE_TIMEOUT_MS = 1000;
/** Instances that went away, remembered (with their last seq) so an old heartbeat replayed cannot revive them. */
const MAX_TOMBSTONES = 4096;
/** One refusal notice per instance and this long: a flood of bad heartbeats is not answered in kind. */
const NOTICE_EVERY_MS = 10_000;
const MAX_METHODS = 32;

export class InstanceGoneError extends Error {
  override name = 'InstanceGoneError';
}

/** A request sent to an instance and not yet answered. */
interface Pending {
  startedAt: number;
  fail(err: Error): void;
}

export class AppInstance {
  readonly app: string;
  readonly id: string;
  readonly subject: string;
  methods: ReadonlySet<string> | null = null;
  heartbeatMs = 1000;
  seq = 0;
  lastSeen = 0;
  /** Requests this host has in flight on it, oldest first (a Map keeps insertion order). */
  readonly pending = new Map<string, Pending>();
  gone = false;
  #probing = false;

  constructor(app: string, id: string) {
    this.app = app;
    this.id = id;
    this.subject = instanceSubject(app, id);
  }

  takes(method: string): boolean {
    return this.methods === null || this.methods.has(method);
  }

  /** Track one request on this instance; the returned function ends the tracking. */
  track(id: string, fail: (err: Error) => void): () => void {
    this.pending.set(id, { startedAt: Date.now(), fail });
    return () => this.pending.delete(id);
  }

  /** Whether it has waited long enough on its oldest request to be pinged now (one ping at a time). */
  needsProbe(now: number): boolean {
    if (this.#probing || this.gone) return false;
    const oldest = this.pending.values().next();
    return !oldest.done && now - oldest.value.startedAt >= PROBE_AFTER_MS;
  }

  async probe(bus: Bus): Promise<boolean> {
    this.#probing = true;
    try {
      await bus.request(this.subject, utf8.encode(PING_FRAME), { timeoutMs: PROBE_TIMEOUT_MS });
      return true;
    } catch (err) {
      return !(err instanceof BusNoRespondersError);
    } finally {
      this.#probing = false;
    }
  }
}

export interface DirectoryOptions {
  bus: Bus;
  /** The declared apps, each with the signer for its token (unsigned for auth: nats). */
  signers: ReadonlyMap<string, AppSigner>;
  logger: Logger;
  metrics: AppMetrics;
}

export class AppDirectory {
  readonly #bus: Bus;
  readonly #signers: ReadonlyMap<string, AppSigner>;
  readonly #logger: Logger;
  readonly #metrics: AppMetrics;
  readonly #instances = new Map<string, Map<string, AppInstance>>();
  readonly #cursors = new Map<string, number>();
  readonly #tombstones = new Map<string, number>();
  readonly #noticed = new Map<string, number>();
  readonly #subscriptions: Subscription[] = [];
  #sweep: ReturnType<typeof setInterval> | undefined;
  #stopStatus: (() => void) | undefined;

  constructor(options: DirectoryOptions) {
    this.#bus = options.bus;
    this.#signers = options.signers;
    this.#logger = options.logger;
    this.#metrics = options.metrics;
    for (const app of this.#signers.keys()) {
      this.#instances.set(app, new Map());
      this.#metrics.instances.set({ app }, 0);
    }
  }

  /** Listen to every declared app's presence, then ask the apps already running to announce themselves. */
  async start(): Promise<void> {
    for (const [app, signer] of this.#signers) {
      this.#subscriptions.push(this.#bus.subscribe(presenceSubject(app), (payload) => void this.#presence(app, signer, payload)));
    }
    this.#sweep = setInterval(() => this.#tick(), SWEEP_MS);
    this.#sweep.unref?.();
    // After an outage, instances may have expired here while they kept running: ask them again.
    let wasDown = false;
    this.#stopStatus = this.#bus.onStatus((status) => {
      if (status === 'connected' && wasDown) this.#announce();
      wasDown = status !== 'connected';
    });
    if (this.#signers.size === 0) return;
    await this.#bus.flush();
    this.#announce();
  }

  /** The instance to send a request to: fewest requests in flight from this host, ties in turn. */
  pick(app: string, method: string, exclude: ReadonlySet<string>): AppInstance | undefined {
    const instances = this.#instances.get(app);
    if (!instances || instances.size === 0) return undefined;
    const turn = this.#cursors.get(app) ?? 0;
    this.#cursors.set(app, turn + 1);
    const all = [...instances.values()];
    let best: AppInstance | undefined;
    for (let i = 0; i < all.length; i++) {
      const candidate = all[(turn + i) % all.length];
      if (exclude.has(candidate.id) || !candidate.takes(method)) continue;
      if (!best || candidate.pending.size < best.pending.size) best = candidate;
    }
    return best;
  }

  /** Connected instances of `app` (that take `method`, when given). */
  count(app: string, method?: string): number {
    const instances = this.#instances.get(app);
    if (!instances) return 0;
    if (method === undefined) return instances.size;
    let n = 0;
    for (const instance of instances.values()) if (instance.takes(method)) n++;
    return n;
  }

  /** Every connected instance, for status pages and tests. */
  list(): Array<{ app: string; instance: string; methods: string[] | null; inflight: number }> {
    const out = [];
    for (const [app, instances] of this.#instances) {
      for (const i of instances.values()) out.push({ app, instance: i.id, methods: i.methods ? [...i.methods] : null, inflight: i.pending.size });
    }
    return out;
  }

  isDeclared(app: string): boolean {
    return this.#signers.has(app);
  }

  signer(app: string): AppSigner | undefined {
    return this.#signers.get(app);
  }

  /** The instance is no more: drop it, and fail over the requests it holds (they retry on another). */
  remove(instance: AppInstance, reason: string): void {
    if (instance.gone) return;
    instance.gone = true;
    const instances = this.#instances.get(instance.app);
    if (instances?.get(instance.id) === instance) instances.delete(instance.id);
    this.#bury(instance.app, instance.id, instance.seq);
    this.#metrics.instances.set({ app: instance.app }, instances?.size ?? 0);
    const held = [...instance.pending.values()];
    instance.pending.clear();
    this.#logger.info({ app: instance.app, instance: instance.id, reason, failedOver: held.length }, 'app instance gone');
    for (const pending of held) pending.fail(new InstanceGoneError(`instance ${instance.id} went away (${reason})`));
  }

  async stop(): Promise<void> {
    clearInterval(this.#sweep);
    this.#stopStatus?.();
    await Promise.all(this.#subscriptions.splice(0).map((s) => s.drain().catch(() => undefined)));
  }

  #announce(): void {
    try {
      this.#bus.publish(ANNOUNCE_SUBJECT, utf8.encode('{}'));
    } catch (err) {
      this.#logger.debug({ err }, 'app announce not sent');
    }
  }

  async #presence(app: string, signer: AppSigner, payload: Uint8Array): Promise<void> {
    const body = payload.byteLength <= MAX_PRESENCE_BYTES ? parsePresence(payload) : undefined;
    if (!body || body.name !== app) {
      this.#metrics.refused.inc({ app, reason: 'malformed' });
      return;
    }
    if (!(await signer.verify('presence', body.presence.instance, body.json, body.signature))) {
      this.#metrics.refused.inc({ app, reason: 'signature' });
      this.#refuse(app, body.presence.instance, 'presence refused: the signature does not match the token routr has for this app');
      return;
    }
    const { presence } = body;
    const instances = this.#instances.get(app) as Map<string, AppInstance>;
    let instance = instances.get(presence.instance);
    const floor = instance?.seq ?? this.#tombstones.get(`${app} ${presence.instance}`) ?? 0;
    if (presence.seq <= floor) {
      // A replayed or reordered heartbeat: it proves nothing new.
      this.#metrics.refused.inc({ app, reason: 'stale' });
      return;
    }
    if (presence.state === 'down') {
      if (instance) {
        instance.seq = presence.seq;
        this.#removeLeaving(instance);
      } else {
        this.#bury(app, presence.instance, presence.seq);
      }
      return;
    }
    if (!instance) {
      instance = new AppInstance(app, presence.instance);
      instances.set(instance.id, instance);
      this.#metrics.instances.set({ app }, instances.size);
      this.#logger.info({ app, instance: instance.id, methods: presence.methods, sdk: presence.sdk }, 'app instance connected');
    }
    instance.seq = presence.seq;
    instance.lastSeen = Date.now();
    instance.heartbeatMs = Math.min(MAX_HEARTBEAT_MS, Math.max(MIN_HEARTBEAT_MS, presence.heartbeatMs));
    instance.methods = presence.methods === null ? null : new Set(presence.methods);
  }

  /** A goodbye: no new requests; those in flight are the instance's to finish (it drains before it closes). */
  #removeLeaving(instance: AppInstance): void {
    instance.gone = true;
    const instances = this.#instances.get(instance.app);
    if (instances?.get(instance.id) === instance) instances.delete(instance.id);
    this.#bury(instance.app, instance.id, instance.seq);
    this.#metrics.instances.set({ app: instance.app }, instances?.size ?? 0);
    this.#logger.info({ app: instance.app, instance: instance.id, inflight: instance.pending.size }, 'app instance leaving');
  }

  #bury(app: string, id: string, seq: number): void {
    const key = `${app} ${id}`;
    this.#tombstones.delete(key);
    this.#tombstones.set(key, seq);
    if (this.#tombstones.size > MAX_TOMBSTONES) this.#tombstones.delete(this.#tombstones.keys().next().value as string);
  }

  #refuse(app: string, id: string, error: string): void {
    if (!INSTANCE_ID.test(id)) return;
    const key = `${app} ${id}`;
    const now = Date.now();
    if ((this.#noticed.get(key) ?? 0) > now - NOTICE_EVERY_MS) return;
    if (this.#noticed.size > MAX_TOMBSTONES) this.#noticed.clear();
    this.#noticed.set(key, now);
    this.#logger.warn({ app, instance: id }, 'app presence refused: bad signature (wrong token, or not this app)');
    try {
      this.#bus.publish(noticeSubject(app, id), utf8.encode(JSON.stringify({ instance: id, error })));
    } catch {
      // advisory only
    }
  }

  #tick(): void {
    const now = Date.now();
    for (const instances of this.#instances.values()) {
      for (const instance of instances.values()) {
        if (now - instance.lastSeen > MISSED_HEARTBEATS * instance.heartbeatMs) {
          this.remove(instance, 'heartbeats stopped');
        } else if (instance.needsProbe(now)) {
          void instance.probe(this.#bus).then((alive) => {
            if (!alive) this.remove(instance, 'no responders on its subject');
          });
        }
      }
    }
  }
}

interface ParsedPresence {
  name: string;
  presence: PresenceBody;
  json: string;
  signature: string;
}

function parsePresence(payload: Uint8Array): ParsedPresence | undefined {
  const frame = decodeFrame(payload);
  if (!frame) return undefined;
  let body: unknown;
  try {
    body = JSON.parse(frame.json);
  } catch {
    return undefined;
  }
  if (!isPresence(body)) return undefined;
  return { name: body.name, presence: body, json: frame.json, signature: frame.signature };
}

function isPresence(value: unknown): value is PresenceBody {
  if (value === null || typeof value !== 'object') return false;
  const p = value as Record<string, unknown>;
  const methodsOk =
    p.methods === null || (Array.isArray(p.methods) && p.methods.length <= MAX_METHODS && p.methods.every((m) => typeof m === 'string' && /^[A-Z]{1,32}$/.test(m)));
  return (
    p.v === 1 &&
    typeof p.name === 'string' &&
    typeof p.instance === 'string' &&
    INSTANCE_ID.test(p.instance) &&
    Number.isSafeInteger(p.seq) &&
    (p.seq as number) > 0 &&
    (p.state === 'up' || p.state === 'down') &&
    methodsOk &&
    typeof p.heartbeatMs === 'number' &&
    Number.isFinite(p.heartbeatMs) &&
    typeof p.sdk === 'string'
  );
}
