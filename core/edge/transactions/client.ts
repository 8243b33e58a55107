/**
 * Client transactions (RFC 3261 17.1, with RFC 6026's Accepted state for INVITE).
 *
 * Retransmits the request over UDP (timers A, E), gives up after 64*T1 (B, F) with a timeout the proxy turns
 * into 408 or a failover, ACKs non-2xx final INVITE responses itself (17.1.1.3) and absorbs their
 * retransmissions (timer D), and lets 2xx retransmissions through to the proxy core (timer M) because the
 * ACK for a 2xx is end to end.
 */
import { setHeader, stringifyMessage, type SplicedResponse } from '../../sip/index.js';
import type { SipRequest, SipResponse } from '../../sip/types.js';
import type { Destination } from '../transport.js';
import { timerD, TimerSet, transactionTimeout, type TimerConfig } from './timers.js';

export type ClientState = 'calling' | 'trying' | 'proceeding' | 'completed' | 'accepted' | 'terminated';

/** A response as the proxy holds it: parsed, or (1xx/2xx on the fast path) spliced bytes ready to relay. */
export type IncomingResponse = { parsed: SipResponse; body: Uint8Array; status: number } | ({ parsed?: undefined } & SplicedResponse);

export function parsedResponse(parsed: SipResponse, body: Uint8Array): IncomingResponse {
  return { parsed, body, status: parsed.status };
}

export interface ClientTransactionOptions {
  key: string;
  branch: string;
  /** The request as sent, our Via on top. */
  request: SipRequest;
  body?: Uint8Array;
  /** The request already in wire form (the proxy serialises it to pick the transport); else made here. */
  data?: Uint8Array;
  destination: Destination;
  reliable: boolean;
  timers: TimerConfig;
  send(destination: Destination, data: Uint8Array): Promise<void>;
  /** Every response the core must see: provisional, final, and 2xx retransmissions. */
  onResponse(tx: ClientTransaction, response: IncomingResponse): void;
  /** Timer B/F fired without a final response. */
  onTimeout(tx: ClientTransaction): void;
  /** The request could not be sent; RFC 3261 16.9 treats this as a 503. */
  onTransportError(tx: ClientTransaction, err: unknown): void;
  onTerminated(tx: ClientTransaction): void;
  /** User-Agent for the ACK this transaction writes itself (spec.edge.userAgent). */
  userAgent?: string;
  /** Responses must reach it parsed (a request routr originated reads its answer's headers): no fast path. */
  parsedOnly?: boolean;
}

export class ClientTransaction {
  readonly key: string;
  readonly branch: string;
  readonly request: SipRequest;
  readonly isInvite: boolean;
  state: ClientState;
  /** A provisional response arrived: a CANCEL may now be sent (RFC 3261 9.1). */
  provisionalReceived = false;
  finalStatus = 0;
  /** See ClientTransactionOptions.parsedOnly. */
  readonly parsedOnly: boolean;
  #data: Uint8Array;
  #ack: Uint8Array | undefined;
  readonly #options: ClientTransactionOptions;
  readonly #timers = new TimerSet();

  constructor(options: ClientTransactionOptions) {
    this.#options = options;
    this.key = options.key;
    this.branch = options.branch;
    this.request = options.request;
    this.isInvite = options.request.method === 'INVITE';
    this.parsedOnly = options.parsedOnly === true;
    this.state = this.isInvite ? 'calling' : 'trying';
    this.#data = options.data ?? stringifyMessage(options.request, options.body);
  }

  get destination(): Destination {
    return this.#options.destination;
  }

  start(): void {
    this.#transmit(this.#data);
    const t1 = this.#options.timers.t1;
    if (!this.#options.reliable) this.#scheduleRetransmit(t1);
    this.#timers.set(this.isInvite ? 'B' : 'F', transactionTimeout(this.#options.timers), () => {
      if (this.state === 'terminated' || this.state === 'completed' || this.state === 'accepted') return;
      // Timer B only runs in Calling: once an INVITE is answered provisionally the proxy's timer C governs.
      if (this.isInvite && this.state === 'proceeding') return;
      this.#terminate();
      this.#options.onTimeout(this);
    });
  }

  #scheduleRetransmit(interval: number): void {
    this.#timers.set(this.isInvite ? 'A' : 'E', interval, () => {
      if (this.state !== 'calling' && this.state !== 'trying' && this.state !== 'proceeding') return;
      if (this.isInvite && this.state !== 'calling') return;
      this.#transmit(this.#data);
      const t2 = this.#options.timers.t2;
      // Non-INVITE in Proceeding retransmits every T2 (17.1.2.2); otherwise the interval doubles up to T2.
      const next = this.state === 'proceeding' ? t2 : this.isInvite ? 2 * interval : Math.min(2 * interval, t2);
      this.#scheduleRetransmit(next);
    });
  }

  receive(response: IncomingResponse): void {
    const status = response.status;
    switch (this.state) {
      case 'terminated':
        return;
      case 'completed':
        // A retransmitted non-2xx final: repeat our ACK, tell nobody (17.1.1.2).
        if (this.isInvite && status >= 300 && this.#ack) this.#transmit(this.#ack);
        return;
      case 'accepted':
        if (status >= 200 && status < 300) this.#options.onResponse(this, response);
        return;
    }
    if (status < 200) {
      this.provisionalReceived = true;
      if (this.state === 'calling' || this.state === 'trying') {
        this.state = 'proceeding';
        if (this.isInvite) this.#timers.clear('A');
      }
      this.#options.onResponse(this, response);
      return;
    }
    this.finalStatus = status;
    this.#timers.clear('A');
    this.#timers.clear('E');
    this.#timers.clear('B');
    this.#timers.clear('F');
    const reliable = this.#options.reliable;
    if (this.isInvite && status < 300) {
      this.state = 'accepted';
      this.#timers.set('M', transactionTimeout(this.#options.timers), () => this.#terminate());
    } else if (this.isInvite) {
      this.state = 'completed';
      // The fast path only carries 1xx and 2xx; a non-2xx final always arrives parsed.
      if (!response.parsed) throw new Error('a non-2xx final response must be parsed to be ACKed');
      const ack = buildAck(this.request, response.parsed);
      if (this.#options.userAgent) setHeader(ack, 'User-Agent', this.#options.userAgent);
      this.#ack = stringifyMessage(ack);
      this.#transmit(this.#ack);
      this.#timers.set('D', timerD(this.#options.timers, reliable), () => this.#terminate());
    } else {
      this.state = 'completed';
      this.#timers.set('K', reliable ? 0 : this.#options.timers.t4, () => this.#terminate());
    }
    this.#options.onResponse(this, response);
  }

  /** Stop without a response (the proxy gave up on this branch, e.g. after CANCEL went unanswered). */
  abandon(): void {
    this.#terminate();
  }

  #terminate(): void {
    if (this.state === 'terminated') return;
    this.state = 'terminated';
    this.#timers.clearAll();
    this.#options.onTerminated(this);
  }

  #transmit(data: Uint8Array): void {
    this.#options.send(this.#options.destination, data).catch((err: unknown) => {
      if (this.state === 'terminated' || this.finalStatus >= 200) return;
      this.#terminate();
      this.#options.onTransportError(this, err);
    });
  }
}

/**
 * The ACK for a non-2xx final response (RFC 3261 17.1.1.3): same Request-URI, Call-ID, From, CSeq number and
 * top Via as the INVITE, To from the response (it carries the UAS tag), and the INVITE's Route set.
 */
export function buildAck(invite: SipRequest, response: SipResponse): SipRequest {
  const h = invite.headers;
  const headers: SipRequest['headers'] = {
    via: [h.via[0]],
    'max-forwards': 70,
    to: response.headers.to,
    from: h.from,
    'call-id': h['call-id'],
    cseq: { seq: h.cseq.seq, method: 'ACK' },
  };
  if (h.route?.length) headers.route = h.route;
  return { method: 'ACK', uri: invite.uri, version: '2.0', headers, content: '' };
}

/** The CANCEL for a pending INVITE we sent (RFC 3261 9.1): same branch, Request-URI, Call-ID, From, To, Route. */
export function buildCancel(invite: SipRequest): SipRequest {
  const h = invite.headers;
  const headers: SipRequest['headers'] = {
    via: [h.via[0]],
    'max-forwards': 70,
    to: h.to,
    from: h.from,
    'call-id': h['call-id'],
    cseq: { seq: h.cseq.seq, method: 'CANCEL' },
  };
  if (h.route?.length) headers.route = h.route;
  return { method: 'CANCEL', uri: invite.uri, version: '2.0', headers, content: '' };
}
