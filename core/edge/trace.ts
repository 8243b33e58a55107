/**
 * The SIP message trace (`spec.logging.sipTrace`, Routr v1's `logging.traceLevel`): every message the edge
 * receives and sends, as text, logged at trace level with its peer and transport. Credentials are redacted in
 * the text itself (pino's redaction sees only object paths): the values of Authorization, Proxy-Authorization
 * and X-Connect-Token become `[redacted]`, so a trace can be shared without leaking digests or tokens.
 */
import type { Logger } from '../log.js';
import type { Destination, Inbound } from './transport.js';

const decoder = new TextDecoder();
/** Header lines whose values never reach a log (header names are case-insensitive; these have no compact form). */
const SECRET_HEADERS = /^(authorization|proxy-authorization|x-connect-token)[ \t]*:.*$/gim;
/** Longest message text logged; larger bodies are cut (the headers, which a trace is read for, come first). */
const MAX_TRACE_CHARS = 16_384;

export function redactSipText(text: string): string {
  return text.replace(SECRET_HEADERS, (line) => `${line.slice(0, line.indexOf(':'))}: [redacted]`);
}

export interface SipTracer {
  received(inbound: Inbound): void;
  sent(destination: Destination, data: Uint8Array): void;
}

export function sipTracer(logger: Logger): SipTracer {
  const log = (direction: 'in' | 'out', peer: { host: string; port: number; transport: string }, data: Uint8Array) => {
    if (!logger.isLevelEnabled('trace')) return;
    const text = decoder.decode(data.length > MAX_TRACE_CHARS ? data.subarray(0, MAX_TRACE_CHARS) : data);
    logger.trace({ direction, transport: peer.transport, peer: `${peer.host}:${peer.port}`, bytes: data.length, message: redactSipText(text) }, `sip ${direction}`);
  };
  return {
    received: (inbound) => log('in', inbound.source, inbound.data),
    sent: (destination, data) => log('out', destination, data),
  };
}
