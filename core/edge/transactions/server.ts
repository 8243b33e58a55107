/**
 * Server transactions (RFC 3261 17.2, with RFC 6026's Accepted state for INVITE).
 *
 * The proxy core hands responses to `respond()`; the transaction sends them upstream, keeps the last one to
 * answer retransmitted requests, retransmits a non-2xx final INVITE response over UDP until the ACK arrives
 * (timer G, H), absorbs that ACK (timer I), and lingers after a final answer (timer J, L) so late
 * retransmissions are still answered rather than treated as new requests.
 */
import type { DecidedReply } from '../../envelope.js';
import type { Logger } from '../../log.js';
import { stringifyMessage } from '../../sip/index.js';
import type { SipRequest, SipResponse } from '../../sip/types.js';
import type { Destination } from '../transport.js';
import { newTag } from './keys.js';
import { TimerSet, transactionTimeout, type TimerConfig } from './timers.js';

export type ServerState = 'trying' | 'proceeding' | 'completed' | 'confirmed' | 'accepted' | 'terminated';

export interface ServerTransactionOptions {
  key: string;
  request: SipRequest;
  /** Where responses go: the connection the request came on, or the Via/rport address for UDP. */
  destination: Destination;
  reliable: boolean;
  timers: TimerConfig;
  /** Parent of the transaction's own logger (bound to call-id, branch and method, made on first use). */
  logger: Logger;
  send(destination: Destination, data: Uint8Array): Promise<void>;
  onTerminated(tx: ServerTransaction): void;
  /** A response could not be sent (closed connection, unreachable). */
  onSendError?(tx: ServerTransaction, err: unknown): void;
  /** The final response went out: the transaction is no longer in flight, though it may linger (the proxy's
   * in-flight count; the debug line per transaction). */
  onFinal?(tx: ServerTransaction, status: number): void;
}

export class ServerTransaction {
  readonly key: string;
  readonly request: SipRequest;
  readonly isInvite: boolean;
  readonly createdAt = Date.now();
  state: ServerState;
  /** Status of the last response sent, 0 before any. */
  lastStatus = 0;
  /** How the request was decided, kept only while an observer wants it (the debug line). */
  decision: DecidedReply | { error: number } | undefined;
  #lastResponse: Uint8Array | undefined;
  #localTag: string | undefined;
  #log: Logger | undefined;
  readonly #options: ServerTransactionOptions;
  readonly #timers = new TimerSet();

  constructor(options: ServerTransactionOptions) {
    this.#options = options;
    this.key = options.key;
    this.request = options.request;
    this.isInvite = options.request.method === 'INVITE';
    this.state = this.isInvite ? 'proceeding' : 'trying';
  }

  get destination(): Destination {
    return this.#options.destination;
  }

  /** This transaction's logger; created lazily, most transactions never log. */
  get log(): Logger {
    const h = this.request.headers;
    this.#log ??= this.#options.logger.child({ callId: h['call-id'], branch: h.via[0]?.params.branch, method: this.request.method });
    return this.#log;
  }

  get hasFinalResponse(): boolean {
    return this.lastStatus >= 200;
  }

  /** The To tag for responses this edge generates itself; the same one for every response of the transaction. */
  get localTag(): string {
    this.#localTag ??= newTag();
    return this.#localTag;
  }

  /** Send a response upstream. Ignored once terminated; 2xx after a 2xx is allowed (RFC 6026 Accepted). */
  respond(response: SipResponse, body?: Uint8Array): void {
    if (this.#accepts(response.status)) this.#send(response.status, stringifyMessage(response, body));
  }

  /** Relay a response already in wire form (a downstream response with our Via cut out). */
  relay(status: number, data: Uint8Array): void {
    if (this.#accepts(status)) this.#send(status, data);
  }

  #accepts(status: number): boolean {
    if (this.state === 'terminated' || this.state === 'completed' || this.state === 'confirmed') return false;
    return !(this.state === 'accepted' && (status < 200 || status >= 300));
  }

  #send(status: number, data: Uint8Array): void {
    this.lastStatus = status;
    this.#lastResponse = data;
    this.#transmit(data);
    if (status < 200) {
      if (this.state === 'trying') this.state = 'proceeding';
      return;
    }
    this.#final(status);
  }

  /**
   * Send a final response once and keep no state for it, as a stateless proxy would (Kamailio's sl_send_reply):
   * no retransmission (timer G), no lingering (timers H, J). For challenges to requests nobody has
   * authenticated yet: a spoofed source then gets one answer per request it is sent, never more. A
   * retransmitted request is a new request and gets a new answer; the ACK for it is recognised by its To tag.
   */
  respondStateless(response: SipResponse): void {
    if (!this.#accepts(response.status) || response.status < 200) return;
    this.lastStatus = response.status;
    this.#transmit(stringifyMessage(response));
    this.#options.onFinal?.(this, response.status);
    this.terminate();
  }

  #final(status: number): void {
    this.#options.onFinal?.(this, status);
    const timeout = transactionTimeout(this.#options.timers);
    if (!this.isInvite) {
      this.state = 'completed';
      // Timer J: absorb retransmissions for 64*T1 on UDP; nothing to absorb on reliable transports.
      this.#timers.set('J', this.#options.reliable ? 0 : timeout, () => this.terminate());
      return;
    }
    if (status < 300) {
      this.state = 'accepted';
      this.#timers.set('L', timeout, () => this.terminate());
      return;
    }
    this.state = 'completed';
    if (!this.#options.reliable) this.#scheduleG(this.#options.timers.t1);
    this.#timers.set('H', timeout, () => this.terminate());
  }

  #scheduleG(interval: number): void {
    this.#timers.set('G', interval, () => {
      if (this.state !== 'completed' || !this.#lastResponse) return;
      this.#transmit(this.#lastResponse);
      this.#scheduleG(Math.min(2 * interval, this.#options.timers.t2));
    });
  }

  /** The same request arrived again: answer with the last response, if any (17.2.1, 17.2.2). */
  retransmission(): void {
    if (this.#lastResponse && this.state !== 'terminated' && this.state !== 'confirmed' && this.state !== 'accepted') {
      this.#transmit(this.#lastResponse);
    }
  }

  /** ACK for a non-2xx final response: absorbed hop by hop. */
  ack(): void {
    if (this.state !== 'completed') return;
    this.state = 'confirmed';
    this.#timers.clear('G');
    this.#timers.clear('H');
    this.#timers.set('I', this.#options.reliable ? 0 : this.#options.timers.t4, () => this.terminate());
  }

  terminate(): void {
    if (this.state === 'terminated') return;
    this.state = 'terminated';
    this.#timers.clearAll();
    this.#options.onTerminated(this);
  }

  #transmit(data: Uint8Array): void {
    this.#options.send(this.#options.destination, data).catch((err: unknown) => this.#options.onSendError?.(this, err));
  }
}
