// Differential check of routr's codec against the npm `sip` parser on the valid RFC 4475 messages: where both
// read a message, they must agree on the fields routing depends on. `sip` is a test oracle only; see
// core/sip/codec.ts for why the product parses SIP itself.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { packagePath } from '../../core/paths.js';
import { parseMessage } from '../../core/sip/index.js';

const sip = createRequire(import.meta.url)('sip') as { parse(data: Buffer): Record<string, any> | undefined };
const dir = packagePath('test', 'fixtures', 'rfc4475');

/** Where `sip` is wrong and routr right, with the reason. */
const KNOWN_SIP_DEFECTS: Record<string, string> = {
  'esc02.dat': 'sip %-decodes the method (RE%47IST%45R → REGISTER); RFC 4475 3.1.1.5 says it is a distinct method',
};

function fields(m: Record<string, any>) {
  const h = m.headers;
  return {
    method: m.method,
    status: m.status,
    uri: m.uri,
    callId: h['call-id'],
    cseq: h.cseq && `${h.cseq.seq} ${h.cseq.method}`,
    fromTag: h.from?.params?.tag,
    toTag: h.to?.params?.tag,
    vias: h.via?.length,
    branch: h.via?.[0]?.params?.branch,
  };
}

const rows = readFileSync(`${dir}/INDEX.tsv`, 'utf8').trim().split('\n').slice(1).map((l) => l.split('\t'));

for (const [file, section, verdict] of rows) {
  if (verdict !== 'valid') continue;
  test(`codec differential - ${file} (${section}) reads like the sip package reads it`, () => {
    const bytes = readFileSync(`${dir}/${file}`);
    const ours = parseMessage(bytes, { datagram: true });
    const theirs = sip.parse(bytes);
    assert.ok(ours.ok, 'routr parses it');
    assert.ok(theirs, 'sip parses it');
    const a = fields(ours.message as unknown as Record<string, any>);
    const b = fields(theirs);
    if (KNOWN_SIP_DEFECTS[file]) {
      assert.notDeepEqual(a, b, `known defect no longer reproduces, drop it from the list: ${KNOWN_SIP_DEFECTS[file]}`);
    } else {
      assert.deepEqual(a, b);
    }
  });
}
