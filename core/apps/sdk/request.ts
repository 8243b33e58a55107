/**
 * What an app handler gets, shaped after drachtio-srf: `req` is the request (typed, read-only, with
 * `req.get(header)`), `res` the way to answer it — `res.send(status, reason?, headers?)` to respond,
 * `res.forward(uri | targets, options?)` to have routr proxy it, `res.decide(decision)` for anything else the
 * decision schema allows. Exactly one answer per request; a second one throws.
 */
import type { Decision, ForwardDecision, ForwardTarget, HeaderAlterations, ListeningPoint, MessageEnvelope, Sender } from '../../envelope.js';
import { encodeField } from '../../sip/fields.js';
import { headerKey } from '../../sip/names.js';
import type { NameAddr, SipHeaders, SipRequest } from '../../sip/types.js';

export class AppRequest {
  /** The whole request envelope, as plugins see it (README, "Routing"). */
  readonly envelope: MessageEnvelope;
  /** When routr stops waiting for the answer (epoch milliseconds). */
  readonly deadline: number;

  constructor(envelope: MessageEnvelope, timeoutMs: number) {
    this.envelope = envelope;
    this.deadline = Date.now() + timeoutMs;
  }

  get method(): string {
    return this.envelope.method;
  }

  get uri(): string {
    return this.envelope.message.uri;
  }

  get callId(): string {
    return this.envelope.ref;
  }

  get from(): NameAddr {
    return this.envelope.message.headers.from;
  }

  get to(): NameAddr {
    return this.envelope.message.headers.to;
  }

  /** Headers by lower-case long name; structured ones (Via, From, Contact, CSeq...) as objects. */
  get headers(): SipHeaders {
    return this.envelope.message.headers;
  }

  get message(): SipRequest {
    return this.envelope.message;
  }

  get body(): string {
    return this.envelope.message.content;
  }

  /** Where the request came from: the socket's address and transport (not Via). */
  get source(): Sender {
    return this.envelope.sender;
  }

  get receivedOn(): ListeningPoint {
    return this.envelope.receivedOn;
  }

  get edgeRef(): string {
    return this.envelope.edgeRef;
  }

  get metadata(): Record<string, string> {
    return this.envelope.metadata;
  }

  /** A header as it would be written on the wire (repeated values joined by ", "), any spelling: `get('f')`, `get('From')`. */
  get(name: string): string | undefined {
    const key = headerKey(name);
    const value = (this.envelope.message.headers as Record<string, unknown>)[key];
    if (value === undefined) return undefined;
    if (typeof value === 'string') return value;
    try {
      return encodeField(key, value).join(', ');
    } catch {
      return undefined;
    }
  }

  has(name: string): boolean {
    return (this.envelope.message.headers as Record<string, unknown>)[headerKey(name)] !== undefined;
  }
}

export type HeaderMap = Record<string, string | string[]>;
export type ForwardOptions = Omit<ForwardDecision, 'action' | 'targets'>;
export type ForwardTo = string | ForwardTarget | Array<string | ForwardTarget>;

export class AppResponse {
  readonly #answer: (decision: Decision) => void;
  #finished = false;

  constructor(answer: (decision: Decision) => void) {
    this.#answer = answer;
  }

  /** Whether this request has its answer. */
  get finished(): boolean {
    return this.#finished;
  }

  /** Respond: `res.send(486)`, `res.send(486, 'Busy Here')`, `res.send(302, 'Moved', { Contact: '<sip:...>' })`. */
  send(status: number, reason?: string | HeaderMap, headers?: HeaderMap): void {
    const [text, map] = typeof reason === 'object' ? [undefined, reason] : [reason, headers];
    this.decide({ action: 'respond', status, ...(text !== undefined ? { reason: text } : {}), ...(map ? { headers: map } : {}) });
  }

  /**
   * Have routr proxy the request: to one URI, or to targets tried in order (next on 408/5xx/no answer).
   * `options` adds header alterations, Route entries, recordRoute, a new body.
   */
  forward(to?: ForwardTo, options: ForwardOptions & { headers?: HeaderAlterations } = {}): void {
    const list = to === undefined ? [] : Array.isArray(to) ? to : [to];
    const targets = list.map((t) => (typeof t === 'string' ? { uri: t } : t));
    this.decide({ action: 'forward', ...(targets.length > 0 ? { targets } : {}), ...options });
  }

  /** Any decision the schema allows (config/schemas/decision.schema.json). */
  decide(decision: Decision): void {
    if (this.#finished) throw new Error('this request has already been answered');
    this.#finished = true;
    this.#answer(decision);
  }
}
