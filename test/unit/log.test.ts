import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createLogger } from '../../core/log.js';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { lines, logger: createLogger({ level: 'debug', destination }) };
}

test('log - credentials are redacted wherever a SIP message or resource puts them', () => {
  const { lines, logger } = capture();
  logger.info({
    message: { headers: { authorization: [{ scheme: 'Digest', params: { response: 'secret-digest' } }], 'proxy-authorization': 'Digest response="x"' } },
    headers: { authorization: 'Bearer token-value' },
    spec: { password: 'hunter2' },
    resource: { spec: { password: 'hunter3' } },
    token: 'jwt-value',
  }, 'request');
  const out = lines.join('');
  for (const secret of ['secret-digest', 'Digest response', 'token-value', 'hunter2', 'hunter3', 'jwt-value']) {
    assert.ok(!out.includes(secret), `${secret} leaked: ${out}`);
  }
  assert.match(out, /\[redacted\]/);
});

test('log - a child logger carries its bindings on every line', () => {
  const { lines, logger } = capture();
  logger.child({ callId: 'abc@host', branch: 'z9hG4bK1', method: 'INVITE' }).warn('no decision');
  const line = JSON.parse(lines[0]) as Record<string, unknown>;
  assert.equal(line.callId, 'abc@host');
  assert.equal(line.method, 'INVITE');
  assert.equal(line.msg, 'no decision');
});
