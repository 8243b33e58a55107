/**
 * Asking an edge to send a request routr originates (core/edge/uac.ts): any edge (`routr.v1.uac`, a queue
 * group), or one edge by ref when the request must leave from it (a registration's Contact names that edge; a
 * Peer's flow is held by the edge it registered through). Every failure is a reply, never a throw.
 */
import { edgeSubject, UAC_SUBJECT, UAC_TOPIC } from '../bus/subjects.js';
import { BusNoRespondersError, BusTimeoutError, type Bus } from '../bus/types.js';
import type { UacReply, UacRequest } from '../envelope.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** How much longer than the request's own timeout the bus round trip may take. */
const BUS_MARGIN_MS = 2000;

/** The edge's reply; `edge` names where to send the next request of the same registration or flow (undefined: any). */
export async function originate(bus: Bus, ask: UacRequest & { timeoutMs: number }, edge?: string): Promise<UacReply> {
  const subject = edge ? edgeSubject(edge, UAC_TOPIC) : UAC_SUBJECT;
  try {
    const reply = await bus.request(subject, encoder.encode(JSON.stringify(ask)), { timeoutMs: ask.timeoutMs + BUS_MARGIN_MS });
    return JSON.parse(decoder.decode(reply)) as UacReply;
  } catch (err) {
    const reason =
      err instanceof BusNoRespondersError ? (edge ? `edge ${edge} is gone` : 'no edge is running') : err instanceof BusTimeoutError ? 'no edge answered in time' : `bus: ${(err as Error).message}`;
    return { failure: err instanceof BusNoRespondersError ? 'transport' : 'timeout', reason, edge: edge ?? '' };
  }
}

/** True when the failure means the named edge is not there (ask any edge next time). */
export function edgeGone(reply: UacReply, edge: string | undefined): boolean {
  return edge !== undefined && 'failure' in reply && reply.edge === edge && /is gone|no edge answered/.test(reply.reason);
}
