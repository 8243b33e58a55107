/**
 * Builders for SIP test messages as bytes, and parse wrappers that fail the test with the codec's own error
 * text. Shared by the codec unit suites.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { isRequest, parseMessage, type ParseResult, type SipMessage, type SipRequest } from '../../core/sip/index.js';

/** The mandatory headers of an INVITE (RFC 3261 8.1.1), without Content-Length. */
export const BASE = [
  'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds',
  'Max-Forwards: 70',
  'To: Bob <sip:bob@biloxi.example.com>',
  'From: Alice <sip:alice@atlanta.example.com>;tag=1928301774',
  'Call-ID: a84b4c76e66710@pc33.atlanta.example.com',
  'CSeq: 314159 INVITE',
];

/** A request as bytes: start line, headers, and Content-Length (counted in octets) unless `length` says otherwise. */
export function wire(headers: string[], options: { start?: string; body?: string | Buffer; length?: number | null } = {}): Buffer {
  const body = typeof options.body === 'string' ? Buffer.from(options.body, 'utf8') : (options.body ?? Buffer.alloc(0));
  const lines = [options.start ?? 'INVITE sip:bob@biloxi.example.com SIP/2.0', ...headers];
  if (options.length !== null) lines.push(`Content-Length: ${options.length ?? body.length}`);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'utf8'), body]);
}

export function parse(buf: Buffer, datagram = true): ParseResult {
  return parseMessage(buf, { datagram });
}

export function parseOk(buf: Buffer, datagram = true): { message: SipMessage; body: Uint8Array } {
  const result = parse(buf, datagram);
  assert.ok(result.ok, result.ok ? '' : result.error);
  return result;
}

export function request(buf: Buffer): SipRequest {
  const { message } = parseOk(buf);
  assert.ok(isRequest(message));
  return message;
}

export function failure(buf: Buffer, datagram = true): Extract<ParseResult, { ok: false }> {
  const result = parse(buf, datagram);
  assert.equal(result.ok, false, 'expected a parse failure');
  return result as Extract<ParseResult, { ok: false }>;
}

export function text(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('utf8');
}
