/**
 * RFC 5118 IPv6 torture messages against the codec: every file of `test/fixtures/rfc5118/INDEX.tsv` parses as
 * a datagram (valid ones) or is refused with 400 (invalid ones), and what the RFC tests is read right: the port
 * inside an IPv6 reference is no port, a received parameter with or without [] is the same address, IPv4 and
 * IPv6 Vias mix, IPv4-mapped addresses stay as written.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { packagePath } from '../../core/paths.js';
import { isRequest, parseMessage, parseUri, stringifyMessage } from '../../core/sip/index.js';
import type { SipRequest } from '../../core/sip/types.js';

const dir = packagePath('test', 'fixtures', 'rfc5118');
const rows = readFileSync(`${dir}/INDEX.tsv`, 'utf8').trim().split('\n').slice(1).map((l) => l.split('\t'));

function parse(file: string) {
  return parseMessage(readFileSync(`${dir}/${file}`), { datagram: true });
}

function request(file: string): SipRequest {
  const parsed = parse(file);
  assert.ok(parsed.ok, `${file}: ${parsed.ok ? '' : parsed.error}`);
  assert.ok(isRequest(parsed.message));
  return parsed.message;
}

describe('sip rfc5118 - IPv6 torture messages', () => {
  test('sip rfc5118 - the index lists the twelve messages of RFC 5118 section 4', () => {
    assert.equal(rows.length, 12);
    assert.deepEqual([...new Set(rows.map((r) => r[1]))], ['4.1', '4.2', '4.3', '4.4', '4.5', '4.6', '4.7', '4.8', '4.9', '4.10']);
  });

  for (const [file, section, verdict, what] of rows) {
    test(`sip rfc5118 - ${file} (${section}, ${verdict}: ${what.split(';')[0]})`, () => {
      const parsed = parse(file);
      if (verdict === 'valid') {
        assert.ok(parsed.ok, `${file} must parse: ${parsed.ok ? '' : parsed.error}`);
        // What parses must survive stringify → parse (read back as a stream message: Content-Length holds).
        const again = parseMessage(stringifyMessage(parsed.message, parsed.body), { datagram: false });
        assert.ok(again.ok, `${file} round trip: ${again.ok ? '' : again.error}`);
        assert.deepEqual(again.message, parsed.message);
      } else {
        assert.equal(parsed.ok, false, `${file} must be refused`);
        assert.equal(parsed.ok ? 0 : parsed.reply?.status, 400, `${file} is answered 400`);
      }
    });
  }

  test('sip rfc5118 - 4.3/4.4: [2001:db8::10:5070] has no port; [2001:db8::10]:5070 has one', () => {
    const ambiguous = parseUri(request('port-ambiguous.dat').uri);
    assert.deepEqual([ambiguous?.host, ambiguous?.port], ['[2001:db8::10:5070]', undefined]);
    const unambiguous = parseUri(request('port-unambiguous.dat').uri);
    assert.deepEqual([unambiguous?.host, unambiguous?.port], ['[2001:db8::10]', 5070]);
  });

  test('sip rfc5118 - 4.5: received with and without [] reads as written; the Via host keeps its brackets', () => {
    const withDelim = request('via-received-param-with-delim.dat').headers.via[0];
    assert.deepEqual([withDelim.host, withDelim.port, withDelim.params.received], ['[2001:db8::9:1]', undefined, '[2001:db8::9:255]']);
    const noDelim = request('via-received-param-no-delim.dat').headers.via[0];
    assert.equal(noDelim.params.received, '2001:db8::9:255');
  });

  test('sip rfc5118 - 4.7: IPv6 and IPv4 Vias mixed, with port and received', () => {
    const vias = request('mult-ip-in-header.dat').headers.via;
    assert.deepEqual(vias.map((v) => [v.protocol, v.host, v.port ?? null, v.params.received ?? null]), [
      ['UDP', '[2001:db8::9:1]', 6050, null],
      ['UDP', '192.0.2.1', null, null],
      ['TCP', '[2001:db8::9:255]', null, '192.0.2.200'],
    ]);
  });

  test('sip rfc5118 - 4.9: IPv4-mapped IPv6 addresses stay as written; 4.6/4.8: the SDP body is carried untouched', () => {
    const mapped = request('ipv4-mapped-ipv6.dat');
    assert.deepEqual(mapped.headers.via.map((v) => [v.host, v.port ?? null]), [['[::ffff:192.0.2.10]', 19823], ['[::ffff:192.0.2.2]', null]]);
    const contact = mapped.headers.contact?.[0];
    assert.equal(typeof contact === 'object' ? contact.uri : contact, 'sip:ted@[::ffff:192.0.2.2]');
    const sdp = parse('ipv6-in-sdp.dat');
    assert.ok(sdp.ok);
    assert.match(Buffer.from(sdp.body).toString(), /^v=0\r\no=assistant .* IN IP6 2001:db8::20\r\n/);
  });
});
