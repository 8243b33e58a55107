/**
 * The location service: registrar bindings (address of record → contacts) and the Peer load-balancing state,
 * one interface over a KvMirror (core/bus/kv-mirror.ts). On the embedded bus the bucket is a Map in this process;
 * on NATS it is the JetStream KV bucket `routr_v1_location`, mirrored on every host and kept current by a watch,
 * so a REGISTER taken by one host is found by the others within milliseconds, and reads stay synchronous (the
 * Connect processor runs on the host thread).
 *
 * Keys (NATS key rules: no '@' or ':' allowed, so names are hashed):
 *   b.<aor hash>.<contact hash>   a binding (JSON Binding, with its absolute expiresAt)
 *   s.<affinity hash>             a balanced session: { group, backend, at }
 *   rr.<group hash>               a round-robin counter
 * Expired bindings are never returned, and every host sweeps what has expired (deleting a key twice is
 * harmless). Sessions end on release (BYE) or after `sessionTtlMs` without a touch.
 */
import { createHash } from '../runtime/crypto.js';
import { bucketName } from '../bus/subjects.js';
import type { Bus } from '../bus/types.js';
import type { EventPublisher } from '../events/publisher.js';
import type { Logger } from '../log.js';
import { KvMirror } from '../bus/kv-mirror.js';
import type { Binding, BindingInput } from '../sdk/index.js';
import type { JsonValue } from '../../sandbox/types.js';

export const LOCATION_BUCKET = bucketName('location');
const SWEEP_MS = 5_000;
/** A session touched more recently than this is not rewritten on every request of its call. */
const TOUCH_MS = 60_000;

export interface LocationOptions {
  /** A balanced session ends this long after its last request unless released first. Default 1 hour. */
  sessionTtlMs?: number;
  now?: () => number;
  /** endpoint.registered / endpoint.unregistered / accounting.registration go here (the live store only; scratch stores stay quiet). */
  events?: EventPublisher;
  /** Who an AOR belongs to (its Agent or Peer, and that resource's tenant), for the events; absent: unknown. */
  ownerOf?: (aor: string) => { kind: 'Agent' | 'Peer'; ref: string; tenant: string | null } | undefined;
}

interface Session {
  group: string;
  backend: string;
  at: number;
}

/** `sip:1001@SIP.Local:5060;transport=udp` → `sip:1001@sip.local`; `backend:` AORs are lower-cased, other non-SIP ones kept as written. */
export function normaliseAor(aor: string): string {
  const m = /^(sips?):(?:([^@;?]*)@)?(\[[^\]]+\]|[^:;?]+)/i.exec(aor.trim());
  // Backend groups are named case-insensitively (X-Fonoster-Backend: CONFERENCE joins backend:conference).
  if (!m) return /^backend:/i.test(aor.trim()) ? aor.trim().toLowerCase() : aor.trim();
  const user = m[2] === undefined ? '' : `${m[2]}@`;
  return `${m[1].toLowerCase()}:${user}${m[3].toLowerCase()}`;
}

function hash(text: string): string {
  return createHash('sha256').update(text).digest('base64url').slice(0, 32);
}

export class LocationStore {
  /** aor → contact → binding, rebuilt from the mirror's changes. */
  readonly #bindings = new Map<string, Map<string, Binding>>();
  readonly #keyOwner = new Map<string, { aor: string; contact: string }>();
  /** Session key (`s.<affinity hash>`) → session. */
  readonly #sessions = new Map<string, Session>();
  /** group → backend → open sessions (least-sessions' view). */
  readonly #counts = new Map<string, Map<string, number>>();
  readonly #sessionTtlMs: number;
  readonly #now: () => number;
  readonly #events: EventPublisher | undefined;
  readonly #ownerOf: LocationOptions['ownerOf'];
  #sweeper: ReturnType<typeof setInterval> | undefined;

  #kv: KvMirror;

  private constructor(options: LocationOptions, kv: KvMirror) {
    this.#sessionTtlMs = options.sessionTtlMs ?? 3_600_000;
    this.#now = options.now ?? Date.now;
    this.#events = options.events;
    this.#ownerOf = options.ownerOf;
    this.#kv = kv;
  }

  static async open(bus: Bus, logger: Logger, options: LocationOptions = {}): Promise<LocationStore> {
    const store = new LocationStore(options, KvMirror.scratch());
    // The mirror reports the bucket's current contents while it opens; #changed indexes them as they come.
    store.#kv = await KvMirror.open(bus, logger, { bucket: LOCATION_BUCKET, maxKeysPerNamespace: 0, onChange: (key, value) => store.#changed(key, value) });
    store.#sweeper = setInterval(() => store.sweep(), SWEEP_MS);
    store.#sweeper.unref();
    return store;
  }

  /** In memory only: the fixtures' scratch store and `routr plugin test`. */
  static scratch(options: LocationOptions = {}): LocationStore {
    const store = new LocationStore(options, KvMirror.scratch());
    store.#kv = KvMirror.scratch({ maxKeysPerNamespace: 0, onChange: (key, value) => store.#changed(key, value) });
    return store;
  }

  /** Live bindings of `aor`, most recently updated first. */
  find(aor: string): Binding[] {
    const contacts = this.#bindings.get(normaliseAor(aor));
    if (!contacts) return [];
    const now = this.#now();
    const live: Binding[] = [];
    for (const binding of contacts.values()) {
      if (binding.expiresAt > now) live.push({ ...binding, expires: Math.max(0, Math.round((binding.expiresAt - now) / 1000)) });
    }
    return live.sort((a, b) => b.updatedAt - a.updatedAt);
  }

  /** Every live binding, by AOR then most recently updated first (the console, `routr status`). */
  list(): Binding[] {
    const out: Binding[] = [];
    for (const aor of [...this.#bindings.keys()].sort()) out.push(...this.find(aor));
    return out;
  }

  /** Add, refresh or (expires 0) remove one binding; returns the live bindings of its AOR. */
  register(input: BindingInput): Binding[] {
    const aor = normaliseAor(input.aor);
    const key = `b.${hash(aor)}.${hash(input.contact)}`;
    const now = this.#now();
    if (input.expires <= 0) {
      const gone = this.#bindings.get(aor)?.get(input.contact);
      if (this.#kv.delete(key) && gone) this.#gone(gone, gone.expiresAt > now ? 'unregistered' : 'expired');
      return this.find(aor);
    }
    const previous = this.#bindings.get(aor)?.get(input.contact);
    const binding: Binding = {
      aor,
      contact: input.contact,
      expires: Math.round(input.expires),
      expiresAt: now + Math.round(input.expires * 1000),
      sender: { host: input.sender.host, port: input.sender.port, transport: input.sender.transport },
      edgeRef: input.edgeRef,
      receivedOn: { host: input.receivedOn.host, port: input.receivedOn.port, transport: input.receivedOn.transport },
      callId: input.callId,
      cseq: input.cseq,
      updatedAt: now,
      registeredAt: previous && previous.expiresAt > now ? (previous.registeredAt ?? previous.updatedAt) : now,
    };
    if (typeof input.q === 'number') binding.q = input.q;
    if (typeof input.instance === 'string') binding.instance = input.instance;
    if (typeof input.nat === 'boolean') binding.nat = input.nat;
    if (typeof input.registrant === 'string') binding.registrant = input.registrant;
    this.#kv.set(key, binding as unknown as JsonValue, JSON.stringify(binding));
    if (this.#events?.wants('endpoint.registered')) {
      this.#events.publish('endpoint.registered', {
        tenant: this.#ownerOf?.(aor)?.tenant ?? null,
        edge: binding.edgeRef,
        callId: binding.callId,
        aor,
        contact: binding.contact,
        expires: binding.expires,
        sender: binding.sender,
        refreshed: previous !== undefined && previous.expiresAt > now,
      });
    }
    return this.find(aor);
  }

  #gone(binding: Binding, reason: 'unregistered' | 'expired'): void {
    const events = this.#events;
    if (!events) return;
    const unregistered = events.wants('endpoint.unregistered');
    const accounting = events.wants('accounting.registration');
    if (!unregistered && !accounting) return;
    const owner = this.#ownerOf?.(binding.aor);
    const common = { edge: binding.edgeRef, callId: binding.callId, aor: binding.aor, tenant: owner?.tenant ?? null };
    if (unregistered) events.publish('endpoint.unregistered', { ...common, contact: binding.contact, reason });
    if (!accounting) return;
    // An expired binding ended when it expired, whenever the sweep noticed.
    const endedAt = reason === 'expired' ? Math.min(binding.expiresAt, this.#now()) : this.#now();
    const registeredAt = Math.min(binding.registeredAt ?? binding.updatedAt, endedAt);
    events.publish('accounting.registration', {
      ...common,
      contact: binding.contact,
      resource: owner?.ref ?? null,
      kind: owner?.kind ?? null,
      transport: binding.sender.transport,
      source: binding.sender,
      registeredAt: new Date(registeredAt).toISOString(),
      endedAt: new Date(endedAt).toISOString(),
      durationMs: endedAt - registeredAt,
      reason,
    });
  }

  /** Remove one contact of `aor`, or all of them; returns how many live ones were removed. */
  unregister(aor: string, contact?: string): number {
    const normalised = normaliseAor(aor);
    const now = this.#now();
    let removed = 0;
    for (const binding of [...(this.#bindings.get(normalised)?.values() ?? [])]) {
      if (contact !== undefined && binding.contact !== contact) continue;
      const live = binding.expiresAt > now;
      if (live) removed++;
      if (this.#kv.delete(`b.${hash(normalised)}.${hash(binding.contact)}`)) this.#gone(binding, live ? 'unregistered' : 'expired');
    }
    return removed;
  }

  /**
   * The backend for a request: the session's backend when `affinity` has one that is still a candidate, else by
   * `algorithm` over `candidates`. With an affinity the pick opens (or refreshes) a session.
   */
  pick(options: { group: string; algorithm: 'round-robin' | 'least-sessions'; candidates: readonly string[]; affinity?: string | null }): string | null {
    const { group, candidates } = options;
    if (candidates.length === 0) return null;
    const now = this.#now();
    const sessionKey = options.affinity ? `s.${hash(options.affinity)}` : undefined;
    if (sessionKey) {
      const session = this.#sessions.get(sessionKey);
      if (session && session.group === group && candidates.includes(session.backend) && now - session.at < this.#sessionTtlMs) {
        if (now - session.at > TOUCH_MS) this.#writeSession(sessionKey, { ...session, at: now });
        return session.backend;
      }
    }
    let pool = candidates;
    if (options.algorithm === 'least-sessions') {
      // The candidates with the fewest open sessions; ties take turns, so idle backends share sequential calls too.
      const counts = this.#counts.get(group);
      let least = Infinity;
      for (const candidate of candidates) least = Math.min(least, counts?.get(candidate) ?? 0);
      pool = candidates.filter((candidate) => (counts?.get(candidate) ?? 0) === least);
    }
    let backend = pool[0];
    if (pool.length > 1) {
      const key = `rr.${hash(group)}`;
      const next = Number(this.#kv.get(key) ?? 0);
      backend = pool[next % pool.length];
      this.#kv.set(key, (next + 1) % 1_000_000_000, String((next + 1) % 1_000_000_000));
    }
    if (sessionKey) this.#writeSession(sessionKey, { group, backend, at: now });
    return backend;
  }

  /**
   * The call of `affinity` landed on `backend` (it failed over from the one picked): count it there. Nothing when
   * there is no session or it already names that backend.
   */
  repoint(affinity: string, backend: string): boolean {
    const key = `s.${hash(affinity)}`;
    const session = this.#sessions.get(key);
    if (!session || session.backend === backend) return false;
    this.#writeSession(key, { ...session, backend, at: this.#now() });
    return true;
  }

  /** End the session of `affinity` (BYE, a failed call); true when there was one. */
  release(affinity: string): boolean {
    return this.#kv.delete(`s.${hash(affinity)}`);
  }

  /** Sessions per backend of `group` (least-sessions' view). */
  sessions(group: string): Record<string, number> {
    return Object.fromEntries(this.#counts.get(group) ?? []);
  }

  /** Open sessions per group and backend (the ops API). */
  allSessions(): Record<string, Record<string, number>> {
    return Object.fromEntries([...this.#counts].filter(([, backends]) => backends.size > 0).map(([group, backends]) => [group, Object.fromEntries(backends)]));
  }

  /** Delete expired bindings and idle sessions (every host does it; deletes are idempotent). */
  sweep(): void {
    const now = this.#now();
    for (const [key, owner] of this.#keyOwner) {
      const binding = this.#bindings.get(owner.aor)?.get(owner.contact);
      // Every host sweeps; the first to delete reports it (the others' mirrors see the key gone by then).
      if (binding && binding.expiresAt <= now && this.#kv.delete(key)) this.#gone(binding, 'expired');
    }
    for (const [key, session] of this.#sessions) if (now - session.at >= this.#sessionTtlMs) this.#kv.delete(key);
  }

  async close(): Promise<void> {
    if (this.#sweeper) clearInterval(this.#sweeper);
    await this.#kv.close();
  }

  #writeSession(key: string, session: Session): void {
    this.#kv.set(key, session as unknown as JsonValue, JSON.stringify(session));
  }

  #changed(key: string, value: JsonValue | undefined): void {
    if (key.startsWith('b.')) {
      const previous = this.#keyOwner.get(key);
      if (previous) {
        const contacts = this.#bindings.get(previous.aor);
        contacts?.delete(previous.contact);
        if (contacts?.size === 0) this.#bindings.delete(previous.aor);
        this.#keyOwner.delete(key);
      }
      if (value === undefined) return;
      const binding = value as unknown as Binding;
      let contacts = this.#bindings.get(binding.aor);
      if (!contacts) this.#bindings.set(binding.aor, (contacts = new Map()));
      contacts.set(binding.contact, binding);
      this.#keyOwner.set(key, { aor: binding.aor, contact: binding.contact });
    } else if (key.startsWith('s.')) {
      const previous = this.#sessions.get(key);
      if (previous) this.#count(previous, -1);
      this.#sessions.delete(key);
      if (value === undefined) return;
      const session = value as unknown as Session;
      this.#sessions.set(key, session);
      this.#count(session, 1);
    }
  }

  #count(session: Session, delta: number): void {
    let counts = this.#counts.get(session.group);
    if (!counts) this.#counts.set(session.group, (counts = new Map()));
    const n = (counts.get(session.backend) ?? 0) + delta;
    if (n > 0) counts.set(session.backend, n);
    else counts.delete(session.backend);
  }
}
