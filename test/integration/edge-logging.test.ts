/**
 * What the edge logs per call: at `debug` one line per transaction (method, Call-ID, decision, final status,
 * duration), at `trace` every message in and out with credentials redacted, and at `info` neither.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createLogger } from '../../core/log.js';
import { startRoutr } from '../helpers/routr.js';
import { requestText, TestUA } from '../helpers/ua.js';
import { waitFor } from '../helpers/wait.js';

function capture(): { stream: Writable; lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return { stream, lines: () => chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const host = { processors: [{ ref: 'static', isFallback: true, config: { routes: [{ user: '^9', respond: { status: 403, reason: 'No outbound calls' } }], default: { status: 404 } } }] };
const AUTH = 'Proxy-Authorization: Digest username="1001", realm="sip.test", nonce="n0nce", uri="sip:900@sip.test", response="deadbeefdeadbeef"';

async function call(level: string): Promise<Array<Record<string, unknown>>> {
  const log = capture();
  const routr = await startRoutr({ host, logging: { level } }, { logger: createLogger({ level, destination: log.stream }) });
  const ua = await TestUA.udp();
  try {
    ua.send(requestText({ method: 'INVITE', uri: 'sip:900@sip.test', ua, callId: `logging-${level}@test`, headers: [AUTH] }), { host: '127.0.0.1', port: routr.sipPort });
    await ua.waitForResponse(403, 'INVITE', 3000);
    await new Promise((r) => setTimeout(r, 100));
    return log.lines();
  } finally {
    await ua.close();
    await routr.stop();
  }
}

test('edge logging - debug: one line per transaction with method, Call-ID, decision, status and duration', async () => {
  const lines = await call('debug');
  const tx = lines.filter((l) => l.msg === 'transaction');
  assert.equal(tx.length, 1, JSON.stringify(tx));
  assert.equal(tx[0].callId, 'logging-debug@test');
  assert.equal(tx[0].method, 'INVITE');
  assert.equal(tx[0].status, 403);
  assert.equal(tx[0].decision, 'static respond 403');
  assert.equal(typeof tx[0].ms, 'number');
  assert.equal(lines.filter((l) => /^sip (in|out)$/.test(String(l.msg))).length, 0, 'messages only at trace');
});

test('edge logging - trace: every message in and out, Authorization redacted', async () => {
  const lines = await call('trace');
  const messages = lines.filter((l) => /^sip (in|out)$/.test(String(l.msg)));
  await waitFor(() => messages.length >= 2);
  const inbound = messages.find((l) => l.direction === 'in');
  assert.ok(inbound);
  assert.equal(inbound.callId, 'logging-trace@test');
  assert.match(String(inbound.message), /^INVITE sip:900@sip\.test SIP\/2\.0\r\n/);
  assert.match(String(inbound.message), /Proxy-Authorization: Digest username="1001", realm="sip.test", \[redacted\]/);
  // Answered at once: no 100 Trying first (RFC 3261 17.2.1; one answer per request, README "Abuse defences").
  assert.ok(!messages.some((l) => l.direction === 'out' && /^SIP\/2\.0 100 Trying/.test(String(l.message))));
  assert.ok(messages.some((l) => l.direction === 'out' && /^SIP\/2\.0 403 No outbound calls/.test(String(l.message))));
  assert.ok(!JSON.stringify(lines).includes('deadbeefdeadbeef'), 'the digest response is never logged');
  assert.ok(!JSON.stringify(lines).includes('n0nce'));
});

test('edge logging - info: neither transaction lines nor messages', async () => {
  const lines = await call('info');
  assert.equal(lines.filter((l) => l.msg === 'transaction' || /^sip (in|out)$/.test(String(l.msg))).length, 0);
});
