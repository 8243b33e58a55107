/**
 * RFC 4475 torture messages against the codec. Every file of `test/fixtures/rfc4475/INDEX.tsv` has its codec
 * verdict written out in VERDICTS below; a file the table does not list, or a table row the index does not
 * know, fails the suite.
 *
 * Each message is parsed as one UDP datagram. Valid messages must also survive
 * parse → stringify → parse unchanged (read back as a stream message, which checks Content-Length too).
 *
 * The semantic rows (RFC 4475 3.3) are mostly outcomes for the edge and the processors (416, 420, 483, the
 * registrar's 401, ...): the codec's part is to parse them. Three are codec failures: insuf (required headers
 * missing), multi01 and mcl01 (single-value headers repeated).
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, test } from 'node:test';
import { isRequest, parseMessage, stringifyMessage, type ParseResult } from '../../core/sip/index.js';

const FIXTURES = new URL('../../../test/fixtures/rfc4475/', import.meta.url);

type Verdict =
  /** Parses; `kind` says whether it must come out as a request or a response. */
  | { ok: true; kind: 'request' | 'response' }
  /** Fails and must be answered with this status; `because` must match the error text, so the right check fired. */
  | { ok: false; reply: 400 | 505; because: RegExp }
  /** Fails and must be dropped without an answer (responses, RFC 4475 3.1.2.5 and 3.1.2.19). */
  | { ok: false; reply: 'drop'; because: RegExp };

const request = { ok: true, kind: 'request' } as const;
const response = { ok: true, kind: 'response' } as const;
const reject = (because: RegExp) => ({ ok: false, reply: 400, because }) as const;

const VERDICTS: Record<string, Verdict> = {
  // 3.1.1 valid messages
  'wsinv.dat': request,
  'intmeth.dat': request,
  'esc01.dat': request,
  'escnull.dat': request,
  'esc02.dat': request,
  'lwsdisp.dat': request,
  'longreq.dat': request,
  'dblreq.dat': request,
  'semiuri.dat': request,
  'transports.dat': request,
  'mpart01.dat': request,
  'unreason.dat': response,
  'noreason.dat': response,
  // 3.1.2 invalid messages
  'badinv01.dat': reject(/Via: empty list element.*Contact: empty parameter/),
  'clerr.dat': reject(/Content-Length 9999 exceeds the 154 octets of body/),
  'ncl.dat': reject(/Content-Length: '-999' is not an integer/),
  'scalar02.dat': reject(/CSeq: sequence number 36893488147419103232 exceeds.*Max-Forwards: '300'/),
  'scalarlg.dat': { ok: false, reply: 'drop', because: /CSeq: sequence number 9292394834772304023312 exceeds/ },
  'quotbal.dat': reject(/To: unterminated quoted string/),
  'ltgtruri.dat': reject(/Request-URI must not be enclosed in <>/),
  'lwsruri.dat': reject(/whitespace inside the Request-URI/),
  'lwsstart.dat': reject(/request line must be Method SP Request-URI SP SIP-Version/),
  'trws.dat': reject(/request line must be Method SP Request-URI SP SIP-Version/),
  'escruri.dat': reject(/Request-URI must not contain headers/),
  // Our choice (RFC 4475 allows 400 or forwarding untouched): accept. The codec does not interpret Date; a
  // proxy forwards it as it came, and a bad time zone harms nobody on the signalling path.
  'baddate.dat': request,
  'regbadct.dat': reject(/Contact: a URI containing '\?' or ',' must be enclosed in <>/),
  'badaspec.dat': reject(/To: whitespace inside <addr-spec>/),
  'baddn.dat': reject(/From: a display name with characters other than tokens must be quoted/),
  'badvers.dat': { ok: false, reply: 505, because: /SIP version 7\.0 is not supported/ },
  'mismatch01.dat': reject(/CSeq method INVITE does not match the request method OPTIONS/),
  'mismatch02.dat': reject(/CSeq method INVITE does not match the request method NEWMETHOD/),
  'bigcode.dat': { ok: false, reply: 'drop', because: /status code 4294967301 out of range/ },
  // 3.2 transaction layer: a branch without the magic cookie is RFC 2543 matching, not a parse error
  'badbranch.dat': request,
  // 3.3 application layer semantics
  'insuf.dat': reject(/missing required header\(s\): From, To, Call-ID/),
  'unkscm.dat': request, // 416 is the edge's answer
  'novelsc.dat': request, // 416 or forward: the edge's choice
  'unksm2.dat': request,
  'bext01.dat': request, // 420 is the edge's answer
  'invut.dat': request,
  'regaut01.dat': request, // the registrar challenges
  'multi01.dat': reject(/appears more than once/),
  'mcl01.dat': reject(/Content-Length: appears more than once/),
  'bcast.dat': response, // the edge must not send it to 255.255.255.255
  'zeromf.dat': request, // 483 is the edge's answer
  'cparam01.dat': request,
  'cparam02.dat': request,
  'regescrt.dat': request,
  'sdp01.dat': request,
  // 3.4 backward compatibility
  'inv2543.dat': request,
};

interface IndexRow {
  file: string;
  section: string;
  klass: string;
}

function readIndex(): IndexRow[] {
  const lines = readFileSync(new URL('INDEX.tsv', FIXTURES), 'utf8').trim().split('\n').slice(1);
  return lines.map((line) => {
    const [file, section, klass] = line.split('\t');
    return { file: file!, section: section!, klass: klass! };
  });
}

function parseFixture(file: string): ParseResult {
  return parseMessage(readFileSync(new URL(file, FIXTURES)), { datagram: true });
}

const rows = readIndex();

describe('rfc4475', () => {
  test('rfc4475 - the verdict table and the index list the same 49 files', () => {
    const indexed = rows.map((row) => row.file).sort();
    assert.equal(indexed.length, 49);
    assert.deepEqual(Object.keys(VERDICTS).sort(), indexed);
    const onDisk = readdirSync(FIXTURES).filter((f) => f.endsWith('.dat')).sort();
    assert.deepEqual(onDisk, indexed);
  });

  test('rfc4475 - verdicts agree with the class in the index', () => {
    for (const row of rows) {
      const verdict = VERDICTS[row.file];
      assert.ok(verdict, `${row.file} has no verdict`);
      if (row.klass === 'valid') assert.equal(verdict.ok, true, `${row.file} is valid`);
      // baddate is the one invalid message RFC 4475 lets a proxy forward untouched.
      if (row.klass === 'invalid' && row.file !== 'baddate.dat') assert.equal(verdict.ok, false, `${row.file} is invalid`);
    }
  });

  for (const row of rows) {
    const verdict = VERDICTS[row.file];
    const name = verdict === undefined ? 'has a verdict' : verdict.ok ? `parses as a ${verdict.kind}` : `fails, ${verdict.reply}`;
    test(`rfc4475 - ${row.section} ${row.file} ${name}`, () => {
      assert.ok(verdict, `${row.file} is missing from the verdict table`);
      const result = parseFixture(row.file);
      if (verdict.ok) {
        assert.ok(result.ok, `${row.file}: ${result.ok ? '' : result.error}`);
        assert.equal(isRequest(result.message) ? 'request' : 'response', verdict.kind);
        const again = parseMessage(stringifyMessage(result.message, result.body), { datagram: false });
        assert.ok(again.ok, `${row.file} after a round trip: ${again.ok ? '' : again.error}`);
        assert.deepEqual(again.message, result.message);
        assert.deepEqual(again.body, result.body);
        return;
      }
      assert.equal(result.ok, false, `${row.file} parsed but must not`);
      if (result.ok) return;
      assert.match(result.error, verdict.because);
      if (verdict.reply === 'drop') {
        assert.equal(result.reply, undefined);
        return;
      }
      assert.ok(result.reply, `${row.file} must be answered`);
      assert.equal(result.reply.status, verdict.reply);
      assert.ok(result.reply.request.headers.via.length > 0, 'the reply can be routed by Via');
    });
  }

  test('rfc4475 - dblreq: the datagram yields the REGISTER, the trailing INVITE is ignored', () => {
    const result = parseFixture('dblreq.dat');
    assert.ok(result.ok && isRequest(result.message));
    assert.equal(result.message.method, 'REGISTER');
    assert.equal(result.body.length, 0);
    assert.equal(result.message.headers['content-length'], 0);
  });

  test('rfc4475 - clerr: the 400 carries the request headers the edge echoes', () => {
    const result = parseFixture('clerr.dat');
    assert.ok(!result.ok && result.reply);
    const { headers } = result.reply.request;
    assert.equal(headers['call-id'], 'clerr.0ha0isndaksdjweiafasdk3');
    assert.deepEqual(headers.cseq, { seq: 8, method: 'INVITE' });
    assert.equal(headers.via[0]!.params.branch, 'z9hG4bK-39234-23523');
    assert.equal(headers.from.params.tag, '93942939o2');
  });

  test('rfc4475 - clerr over a stream is still a 400 (the framer never delivers it, but a direct call must agree)', () => {
    const result = parseMessage(readFileSync(new URL('clerr.dat', FIXTURES)), { datagram: false });
    assert.ok(!result.ok && result.reply?.status === 400);
  });

  test('rfc4475 - insuf: the 400 is answerable though From, To and Call-ID are missing', () => {
    const result = parseFixture('insuf.dat');
    assert.ok(!result.ok && result.reply);
    const headers = result.reply.request.headers as Record<string, unknown>;
    assert.equal(headers.from, undefined);
    assert.deepEqual(headers.cseq, { seq: 193942, method: 'INVITE' });
  });

  test('rfc4475 - badinv01: the reply keeps the Via prefix that parsed', () => {
    const result = parseFixture('badinv01.dat');
    assert.ok(!result.ok && result.reply);
    assert.deepEqual(result.reply.request.headers.via, [{ version: '2.0', protocol: 'UDP', host: '192.0.2.15', params: {} }]);
  });

  test('rfc4475 - bcast: a response that parses, Vias in order', () => {
    const result = parseFixture('bcast.dat');
    assert.ok(result.ok && !isRequest(result.message));
    assert.equal(result.message.status, 200);
    assert.deepEqual(result.message.headers.via.map((v) => v.host), ['192.0.2.198', '255.255.255.255']);
  });

  test('rfc4475 - mpart01: the binary body is kept byte for byte', () => {
    const raw = readFileSync(new URL('mpart01.dat', FIXTURES));
    const result = parseFixture('mpart01.dat');
    assert.ok(result.ok);
    const start = raw.indexOf('\r\n\r\n') + 4;
    assert.equal(result.body.length, 553);
    assert.deepEqual(Buffer.from(result.body), raw.subarray(start, start + 553));
  });
});
