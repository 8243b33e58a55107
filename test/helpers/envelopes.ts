/**
 * Request envelopes as an edge would send them, and replies read back, for tests that drive a ProcessorHost
 * directly through `handle()` (no sockets): parse a small SIP request with routr's codec and wrap it.
 */
import assert from 'node:assert/strict';
import type { HostReply, MessageEnvelope } from '../../core/envelope.js';
import type { ProcessorHost } from '../../core/host/host.js';
import { parseMessage } from '../../core/sip/index.js';
import type { SipRequest } from '../../core/sip/types.js';

export function envelope(method: string, uri: string, options: { headers?: string[] } = {}): MessageEnvelope {
  const headers = options.headers ?? [];
  const text = [
    `${method} ${uri} SIP/2.0`,
    'Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKplugins1',
    'Max-Forwards: 70',
    'From: <sip:alice@127.0.0.1>;tag=a',
    `To: <${uri}>`,
    'Call-ID: plugins-test@127.0.0.1',
    `CSeq: 1 ${method}`,
    ...headers,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  const parsed = parseMessage(Buffer.from(text), { datagram: true });
  assert.ok(parsed.ok, 'test request parses');
  // `method` first, `metadata` last and empty: the shape edges write (hosts rely on both).
  return {
    method,
    ref: 'plugins-test@127.0.0.1',
    edgeRef: 'edge-test',
    sender: { host: '127.0.0.1', port: 5099, transport: 'udp' },
    receivedOn: { host: '127.0.0.1', port: 5060, transport: 'udp' },
    listeningPoints: [{ host: '127.0.0.1', port: 5060, transport: 'udp' }],
    advertisedAddrs: [],
    localnets: [],
    message: parsed.message as SipRequest,
    metadata: {},
  };
}

export async function decide(host: ProcessorHost, env: MessageEnvelope): Promise<HostReply> {
  const reply = await host.handle(new TextEncoder().encode(JSON.stringify(env)));
  return JSON.parse(new TextDecoder().decode(reply)) as HostReply;
}

/** A test request: OPTIONS to `user`, with `X-Test: <test>` when given, plus extra header lines. */
export function ask(host: ProcessorHost, user: string, options: { test?: string; headers?: string[] } = {}): Promise<HostReply> {
  const headers = [...(options.test ? [`X-Test: ${options.test}`] : []), ...(options.headers ?? [])];
  return decide(host, envelope('OPTIONS', `sip:${user}@127.0.0.1`, { headers }));
}

/** The SIP status a reply stands for (0 for a forward). */
export function statusOf(reply: HostReply): number {
  return 'error' in reply ? reply.error.status : reply.decision.action === 'respond' ? reply.decision.status : 0;
}

export function reasonOf(reply: HostReply): string | undefined {
  return 'decision' in reply && reply.decision.action === 'respond' ? reply.decision.reason : undefined;
}

/** A reply without the answering host's name (which differs per run), for deepEqual. */
export function answered(reply: HostReply): Omit<HostReply, 'host'> {
  const { host: _host, ...rest } = reply as HostReply & { host?: string };
  return rest;
}
