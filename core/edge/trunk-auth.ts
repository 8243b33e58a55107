/**
 * Outbound digest at the edge: what forwarding needs to answer a carrier's 401/407 itself, with the Trunk's
 * credentials, so the caller never sees the challenge (RFC 3261 22.2 asks the retried request for a higher CSeq).
 *
 * CSeq numbers are the delicate part. The caller numbers its requests N, N+1, …; after routr answers a challenge
 * on the carrier's side, the carrier has seen one request more than the caller sent. So on the caller → carrier
 * side every request of the dialog is sent with CSeq + offset (the ACK for the 2xx too, and RAck on PRACK), and
 * every response relayed back to the caller gets the caller's own number again; the carrier → caller side is never
 * touched. The offset of the dialog's first request travels in routr's signed Record-Route (`rcseq`, with the
 * Trunk's ref in `rtrunk`: core/edge/dialog.ts), so any edge of the cluster applies it, after a restart too; a
 * challenge answered later inside the dialog (a BYE challenged) adds to it in this edge's memory (`DialogOffsets`).
 */
import { BusNoRespondersError, type Bus } from '../bus/types.js';
import { TRUNK_AUTH_SUBJECT } from '../bus/subjects.js';
import type { TrunkAuthReply, TrunkAuthRequest } from '../envelope.js';
import type { SipMessage, SipRequest } from '../sip/types.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const ASK_TIMEOUT_MS = 2000;

/** Ask a host for the answer to a carrier's challenge; a bus failure is a refusal (the caller then gets the challenge). */
export function trunkAuthorizer(bus: Bus): (ask: TrunkAuthRequest) => Promise<TrunkAuthReply> {
  return async (ask) => {
    try {
      const reply = await bus.request(TRUNK_AUTH_SUBJECT, encoder.encode(JSON.stringify(ask)), { timeoutMs: ASK_TIMEOUT_MS });
      return JSON.parse(decoder.decode(reply)) as TrunkAuthReply;
    } catch (err) {
      return { refused: err instanceof BusNoRespondersError ? 'no host to answer the challenge' : `bus: ${(err as Error).message}` };
    }
  };
}

/** Move a request's CSeq (and a PRACK's RAck, which names the INVITE's CSeq) up by `delta`. */
export function shiftCSeq(request: SipRequest, delta: number): void {
  if (delta === 0) return;
  request.headers.cseq = { ...request.headers.cseq, seq: request.headers.cseq.seq + delta };
  const rack = request.headers.rack;
  if (typeof rack === 'string') {
    const m = /^\s*(\d+)\s+(\d+)\s+(\S+)\s*$/.exec(rack);
    if (m) request.headers.rack = `${m[1]} ${Number(m[2]) + delta} ${m[3]}`;
  }
}

/** A response relayed to the caller carries the caller's own CSeq number (`seq`). */
export function restoreCSeq(message: SipMessage, seq: number): void {
  if (message.headers.cseq.seq !== seq) message.headers.cseq = { ...message.headers.cseq, seq };
}

const MAX_DIALOGS = 100_000;
const MAX_AGE_MS = 12 * 3600_000;

/**
 * Challenges answered inside dialogs, on this edge: the extra CSeq offset per dialog (Call-ID and the caller's
 * tag), beyond the one the Record-Route carries. Bounded in number and age; a BYE's final answer forgets it.
 */
export class DialogOffsets {
  readonly #extra = new Map<string, { offset: number; at: number }>();

  static key(request: SipRequest, side: 'caller' | 'callee'): string {
    const tag = side === 'caller' ? request.headers.from.params.tag : request.headers.to.params.tag;
    return `${request.headers['call-id']}|${tag ?? ''}`;
  }

  get(key: string): number {
    const entry = this.#extra.get(key);
    if (!entry) return 0;
    if (Date.now() - entry.at > MAX_AGE_MS) {
      this.#extra.delete(key);
      return 0;
    }
    return entry.offset;
  }

  bump(key: string): void {
    const offset = this.get(key) + 1;
    this.#extra.delete(key);
    if (this.#extra.size >= MAX_DIALOGS) this.#extra.delete(this.#extra.keys().next().value as string);
    this.#extra.set(key, { offset, at: Date.now() });
  }

  forget(key: string): void {
    this.#extra.delete(key);
  }

  get size(): number {
    return this.#extra.size;
  }
}
