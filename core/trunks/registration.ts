/**
 * One registration with a carrier: a Trunk's outbound URI with `sendRegister`, kept registered by the node that
 * holds its lease (registry.ts). It sends REGISTER through an edge (originate.ts), answers the carrier's digest
 * challenge with the Trunk's credentials (core/auth/digest-client.ts; one answer per attempt, so wrong credentials
 * end in the carrier's refusal, not a loop), follows 423 Min-Expires, refreshes before the granted lifetime runs
 * out, and backs off (2 s doubling to 5 min) when refused or unanswered. One Call-ID and From tag for its whole
 * life, CSeq rising (RFC 3261 10.2.4), so a refresh replaces the binding instead of adding one.
 */
import { digestAnswer } from '../auth/digest-client.js';
import type { Bus } from '../bus/types.js';
import type { UacReply } from '../envelope.js';
import { parseAuth } from '../sip/index.js';
import type { AuthHeader, NameAddr } from '../sip/types.js';
import { edgeGone, originate } from './originate.js';

export type RegistrationState = 'registering' | 'registered' | 'failed' | 'unregistered';

/** What a registration needs to know, resolved from the resources when it starts. */
export interface RegistrationSpec {
  trunk: string;
  /** `host[:port][;transport=…]`: this URI's identity within the Trunk. */
  uri: string;
  /** Where to send, for an address; absent for a host name (the edge resolves the Request-URI). */
  destination?: { host: string; port: number; transport: 'udp' | 'tcp' | 'tls' | 'ws' | 'wss' };
  /** The registrar's Request-URI: `sip:host[:port][;transport=…]`. */
  requestUri: string;
  /** The address of record registered: `sip:<user>@<host>`. */
  aor: string;
  /** The Contact's user part. */
  contactUser: string;
  username: string;
  password: string;
  /** Requested lifetime, seconds. */
  expires: number;
}

export interface RegistrationStatus {
  trunk: string;
  uri: string;
  aor: string;
  state: RegistrationState;
  /** The registrar's last final status, null when none came. */
  status: number | null;
  /** Why the last attempt failed (or the last unregistration), null after a success. */
  reason: string | null;
  /** Epoch ms the carrier keeps the binding until, null when not registered. */
  registeredUntil: number | null;
  /** Epoch ms of the next REGISTER (refresh or retry), null when none is planned. */
  nextAttempt: number | null;
  /** Seconds the carrier granted. */
  expires: number | null;
  /** The edge the registration goes through and the Contact it wrote. */
  edge: string | null;
  contact: string | null;
  /** The node that holds the registration's lease. */
  owner: string;
  updatedAt: number;
}

export interface RegistrationOptions {
  bus: Bus;
  owner: string;
  /** Told of every status change (persisted, published as trunk.registration, metrics). */
  onStatus(status: RegistrationStatus, previous: RegistrationState | undefined): void;
  /** How long one REGISTER may wait for its final answer; default 8 s. */
  timeoutMs?: number;
  /** Backoff bounds, ms; default 2 s to 5 min. */
  backoff?: { initialMs: number; maxMs: number };
  now?: () => number;
}

const DEFAULT_BACKOFF = { initialMs: 2000, maxMs: 300_000 };

export class Registration {
  readonly spec: RegistrationSpec;
  readonly #options: RegistrationOptions;
  readonly #now: () => number;
  readonly #callId = `${globalThis.crypto.randomUUID()}@routr`;
  readonly #fromTag = globalThis.crypto.randomUUID().replaceAll('-', '').slice(0, 16);
  #cseq = 0;
  #edge: string | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #failures = 0;
  #running = false;
  #busy: Promise<void> | undefined;
  #status: RegistrationStatus;

  constructor(spec: RegistrationSpec, options: RegistrationOptions) {
    this.spec = spec;
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#status = {
      trunk: spec.trunk, uri: spec.uri, aor: spec.aor, state: 'unregistered', status: null, reason: null, registeredUntil: null,
      nextAttempt: null, expires: null, edge: null, contact: null, owner: options.owner, updatedAt: this.#now(),
    };
  }

  get status(): RegistrationStatus {
    return this.#status;
  }

  /** Start registering now (this node took the lease). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#failures = 0;
    this.#schedule(0);
  }

  /** Retry now when waiting after a failure (a resource reload, say); a live registration keeps its schedule. */
  retryNow(): void {
    if (this.#running && this.#status.state !== 'registered') this.#schedule(0);
  }

  /** Stop refreshing without unregistering (the lease went to another node, which registers in its turn). */
  stop(): void {
    this.#running = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Stop and remove the binding at the carrier (Expires: 0): SIGTERM, the Trunk deleted or changed. */
  async unregister(reason: string): Promise<void> {
    const wasRegistered = this.#status.state === 'registered';
    this.stop();
    await this.#busy?.catch(() => undefined);
    if (wasRegistered) await this.#exchange(0).catch(() => undefined);
    this.#update({ state: 'unregistered', reason, registeredUntil: null, nextAttempt: null, expires: null });
  }

  #schedule(delayMs: number): void {
    clearTimeout(this.#timer);
    if (!this.#running) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#busy = this.#attempt().finally(() => (this.#busy = undefined));
    }, delayMs);
    this.#timer.unref?.();
  }

  async #attempt(): Promise<void> {
    if (!this.#running) return;
    if (this.#status.state !== 'registered') this.#update({ state: 'registering', nextAttempt: null });
    const outcome = await this.#exchange(this.spec.expires);
    if (!this.#running) return;
    if (outcome.ok) {
      this.#failures = 0;
      const now = this.#now();
      const refreshIn = refreshDelaySeconds(outcome.expires);
      this.#update({ state: 'registered', status: outcome.status, reason: null, expires: outcome.expires, registeredUntil: now + outcome.expires * 1000, nextAttempt: now + refreshIn * 1000 });
      this.#schedule(refreshIn * 1000);
      return;
    }
    this.#failures += 1;
    const { initialMs, maxMs } = this.#options.backoff ?? DEFAULT_BACKOFF;
    // No edge yet (a host that started before its edges): try again soon rather than back off.
    const noEdge = outcome.status === null && /no edge is running/.test(outcome.reason);
    const delay = noEdge ? Math.min(1000, initialMs) : Math.min(maxMs, initialMs * 2 ** (this.#failures - 1));
    // A registration that was live stays so until its lifetime runs out; the carrier still routes to it.
    const until = this.#status.registeredUntil;
    const stillLive = until !== null && until > this.#now();
    this.#update({ state: stillLive ? 'registered' : 'failed', status: outcome.status, reason: outcome.reason, nextAttempt: this.#now() + delay, ...(stillLive ? {} : { registeredUntil: null, expires: null }) });
    this.#schedule(delay);
  }

  /**
   * One REGISTER transaction set: the request, and again with credentials after a challenge (once; twice when
   * the second challenge says stale=true), again after a 423 with the Min-Expires asked for.
   */
  async #exchange(expires: number): Promise<{ ok: true; status: number; expires: number } | { ok: false; status: number | null; reason: string }> {
    let authorization: { header: string; value: string } | undefined;
    let answered = 0;
    let lifetime = expires;
    let briefRetried = false;
    for (let round = 0; round < 4; round++) {
      const reply = await this.#send(lifetime, authorization);
      if ('failure' in reply) return { ok: false, status: null, reason: reply.reason };
      const { status, headers } = reply.response;
      if (status >= 200 && status < 300) {
        if (lifetime === 0) return { ok: true, status, expires: 0 };
        const granted = grantedExpires(headers, reply.contact) ?? lifetime;
        if (granted <= 0) return { ok: false, status, reason: 'the registrar kept no binding for our Contact' };
        return { ok: true, status, expires: granted };
      }
      if (status === 401 || status === 407) {
        const challenges = challengesOf(headers, status);
        const stale = challenges.some((c) => c.params.stale?.toLowerCase() === 'true');
        if (answered >= (stale ? 2 : 1)) return { ok: false, status, reason: `${status} ${reply.response.reason}: the carrier refused the credentials` };
        const value = digestAnswer({ challenges, method: 'REGISTER', uri: this.spec.requestUri, username: this.spec.username, password: this.spec.password });
        if (!value) return { ok: false, status, reason: `${status}: no digest challenge routr can answer` };
        authorization = { header: status === 401 ? 'Authorization' : 'Proxy-Authorization', value };
        answered += 1;
        continue;
      }
      if (status === 423 && !briefRetried && lifetime > 0) {
        const min = Number(String(headers['min-expires'] ?? '').trim());
        if (!Number.isInteger(min) || min <= lifetime) return { ok: false, status, reason: '423 without a usable Min-Expires' };
        lifetime = min;
        briefRetried = true;
        continue;
      }
      return { ok: false, status, reason: `${status} ${reply.response.reason}` };
    }
    return { ok: false, status: null, reason: 'too many rounds' };
  }

  async #send(expires: number, authorization: { header: string; value: string } | undefined): Promise<UacReply> {
    const { spec } = this;
    this.#cseq += 1;
    const headers: Record<string, string> = {
      From: `<${spec.aor}>;tag=${this.#fromTag}`,
      To: `<${spec.aor}>`,
      'Call-ID': this.#callId,
      CSeq: `${this.#cseq} REGISTER`,
      Expires: String(expires),
    };
    if (authorization) headers[authorization.header] = authorization.value;
    const ask = { method: 'REGISTER', uri: spec.requestUri, headers, destination: spec.destination, contact: { user: spec.contactUser }, timeoutMs: this.#options.timeoutMs ?? 8000 };
    let reply = await originate(this.#options.bus, ask, this.#edge);
    if (edgeGone(reply, this.#edge)) {
      // The edge the registration went through is gone: another edge takes it (its Contact replaces ours).
      this.#edge = undefined;
      reply = await originate(this.#options.bus, ask);
    }
    if ('response' in reply) {
      this.#edge = reply.edge;
      if (reply.contact) this.#update({ edge: reply.edge, contact: reply.contact });
    }
    return reply;
  }

  #update(change: Partial<RegistrationStatus>): void {
    const previous = this.#status.state;
    this.#status = { ...this.#status, ...change, updatedAt: this.#now() };
    this.#options.onStatus(this.#status, previous);
  }
}

/**
 * When to refresh a registration granted `expires` seconds: halfway for short ones, 30 s before the end for
 * long ones (3600 → 3570), never sooner than in 1 s.
 */
export function refreshDelaySeconds(expires: number): number {
  return Math.max(1, Math.round(expires - Math.min(expires / 2, 30)));
}

/** The lifetime a 2xx grants our Contact: its `expires` parameter (RFC 3261 10.2.4), else the Expires header. */
function grantedExpires(headers: Record<string, unknown>, contact: string | undefined): number | undefined {
  const contacts = Array.isArray(headers.contact) ? (headers.contact as NameAddr[]) : [];
  const ours = contacts.find((c) => contact !== undefined && sameContact(c.uri, contact)) ?? (contacts.length === 1 ? contacts[0] : undefined);
  const fromContact = ours?.params.expires;
  if (fromContact != null && /^\d+$/.test(fromContact)) return Number(fromContact);
  const header = String(headers.expires ?? '').trim();
  return /^\d+$/.test(header) ? Number(header) : undefined;
}

function sameContact(a: string, b: string): boolean {
  const norm = (u: string) => u.replace(/^<|>$/g, '').toLowerCase();
  return norm(a) === norm(b);
}

function challengesOf(headers: Record<string, unknown>, status: number): AuthHeader[] {
  const value = headers[status === 401 ? 'www-authenticate' : 'proxy-authenticate'];
  if (Array.isArray(value)) return value as AuthHeader[];
  return typeof value === 'string' ? [parseAuth(value)] : [];
}
