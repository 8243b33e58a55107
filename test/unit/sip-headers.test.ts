/**
 * Header-level API of the SIP codec: makeResponse (RFC 3261 8.2.6), the editing helpers a processor's
 * alterations go through, and the small name-addr / Via / credentials parsers and formatters.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  SipCodecError,
  addHeader,
  formatNameAddr,
  formatVia,
  getHeaderValues,
  makeResponse,
  parseAuth,
  parseMessage,
  parseNameAddr,
  parseVia,
  removeHeader,
  setHeader,
  stringifyMessage,
} from '../../core/sip/index.js';
import { BASE, failure, request, text, wire } from '../support/sip-wire.js';

describe('codec - makeResponse', () => {
  const inviteWith2Vias = () =>
    request(wire(['Via: SIP/2.0/UDP p1.example.com;branch=z9hG4bK1', 'Via: SIP/2.0/UDP ua.example.com;branch=z9hG4bK2;received=192.0.2.9', ...BASE.slice(1)]));

  test('makeResponse - copies every Via in order, From, To, Call-ID and CSeq', () => {
    const req = inviteWith2Vias();
    const res = makeResponse(req, 180, 'Ringing');
    assert.equal(res.status, 180);
    assert.equal(res.reason, 'Ringing');
    assert.deepEqual(res.headers.via, req.headers.via);
    assert.deepEqual(res.headers.from, req.headers.from);
    assert.deepEqual(res.headers.to, req.headers.to);
    assert.equal(res.headers['call-id'], req.headers['call-id']);
    assert.deepEqual(res.headers.cseq, req.headers.cseq);
    assert.deepEqual(Object.keys(res.headers), ['via', 'from', 'to', 'call-id', 'cseq']);
  });

  test('makeResponse - the response shares no objects with the request', () => {
    const req = inviteWith2Vias();
    const res = makeResponse(req, 200, 'OK', { toTag: 'abc' });
    res.headers.via[0]!.params.branch = 'changed';
    res.headers.cseq.seq = 1;
    assert.equal(req.headers.via[0]!.params.branch, 'z9hG4bK1');
    assert.equal(req.headers.to.params.tag, undefined);
    assert.equal(req.headers.cseq.seq, 314159);
  });

  test('makeResponse - adds the To tag only when To has none', () => {
    const req = inviteWith2Vias();
    assert.equal(makeResponse(req, 200, 'OK', { toTag: 'abc' }).headers.to.params.tag, 'abc');
    req.headers.to.params.tag = 'existing';
    assert.equal(makeResponse(req, 200, 'OK', { toTag: 'abc' }).headers.to.params.tag, 'existing');
  });

  test('makeResponse - extra headers are parsed, content is carried', () => {
    const res = makeResponse(inviteWith2Vias(), 401, 'Unauthorized', {
      headers: { 'WWW-Authenticate': 'Digest realm="example.com", nonce="abc", qop="auth"', Allow: ['INVITE', 'ACK'] },
      content: 'é',
    });
    assert.deepEqual(res.headers['www-authenticate'], [{ scheme: 'Digest', params: { realm: 'example.com', nonce: 'abc', qop: 'auth' } }]);
    assert.equal(res.headers.allow, 'INVITE, ACK');
    const out = text(stringifyMessage(res));
    assert.match(out, /^SIP\/2\.0 401 Unauthorized\r\n/);
    assert.match(out, /\r\nWWW-Authenticate: Digest realm="example.com", nonce="abc", qop="auth"\r\n/);
    assert.match(out, /Content-Length: 2\r\n\r\né$/);
  });

  test('makeResponse - answers a best-effort request from a failed parse, leaving out what it lacks', () => {
    const result = failure(wire(['Via: SIP/2.0/UDP ua.example.com;branch=z9hG4bK9', 'CSeq: 1 INVITE']));
    assert.ok(result.reply);
    const res = makeResponse(result.reply.request, result.reply.status, result.reply.reason);
    assert.deepEqual(Object.keys(res.headers), ['via', 'cseq']);
    const again = parseMessage(stringifyMessage(res), { datagram: false });
    assert.equal(again.ok, false, 'a response without From/To/Call-ID is not valid, but it is writable');
  });
});

describe('codec - header editing', () => {
  test('edit - setHeader parses structured values; names are case-insensitive, compact forms accepted', () => {
    const msg = request(wire(BASE));
    setHeader(msg, 'm', ['<sip:a@192.0.2.1>;expires=30', 'sip:b@192.0.2.2']);
    setHeader(msg, 'MAX-FORWARDS', '69');
    setHeader(msg, 'Route', '<sip:p1.example.com;lr>, <sip:p2.example.com;lr>');
    setHeader(msg, 'x-extra', ['a', 'b']);
    assert.deepEqual(msg.headers.contact, [
      { uri: 'sip:a@192.0.2.1', params: { expires: '30' } },
      { uri: 'sip:b@192.0.2.2', params: {} },
    ]);
    assert.equal(msg.headers['max-forwards'], 69);
    assert.equal(msg.headers.route!.length, 2);
    assert.equal(msg.headers['x-extra'], 'a, b');
  });

  test('edit - setHeader keeps the header where it was', () => {
    const msg = request(wire(BASE));
    setHeader(msg, 'Via', 'SIP/2.0/TCP new.example.com;branch=z9hG4bKnew');
    assert.equal(Object.keys(msg.headers)[0], 'via');
  });

  test('edit - a value that does not parse throws SipCodecError naming the header', () => {
    const msg = request(wire(BASE));
    const cases: Array<[string, string]> = [
      ['To', '"unterminated <sip:a@b>'],
      ['Via', 'not a via'],
      ['CSeq', 'one INVITE'],
      ['Max-Forwards', '-1'],
      ['Authorization', 'Digest'],
      ['Contact', 'sip:a@b?x=y'],
    ];
    for (const [name, value] of cases) {
      assert.throws(
        () => setHeader(msg, name, value),
        (err: unknown) => err instanceof SipCodecError && err.header === name.toLowerCase() && err.message.startsWith(name),
        name,
      );
    }
    assert.throws(() => setHeader(msg, 'Subject', 'a\r\nb'), SipCodecError);
    assert.throws(() => setHeader(msg, 'Bad Name', 'x'), SipCodecError);
    assert.throws(() => setHeader(msg, 'To', ['<sip:a@b>', '<sip:c@d>']), /more than once/);
  });

  test('edit - addHeader appends by default and puts values on top when asked', () => {
    const msg = request(wire(BASE));
    addHeader(msg, 'Via', 'SIP/2.0/UDP proxy.example.com;branch=z9hG4bKtop', { at: 'top' });
    addHeader(msg, 'Record-Route', '<sip:rr1.example.com;lr>');
    addHeader(msg, 'Record-Route', '<sip:rr0.example.com;lr>', { at: 'top' });
    addHeader(msg, 'Record-Route', '<sip:rr2.example.com;lr>');
    addHeader(msg, 'Supported', 'timer');
    addHeader(msg, 'Supported', ['path', 'outbound']);
    assert.deepEqual(msg.headers.via.map((v) => v.host), ['proxy.example.com', 'pc33.atlanta.example.com']);
    assert.deepEqual(msg.headers['record-route']!.map((r) => r.uri), ['sip:rr0.example.com;lr', 'sip:rr1.example.com;lr', 'sip:rr2.example.com;lr']);
    assert.equal(msg.headers.supported, 'timer, path, outbound');
  });

  test('edit - addHeader refuses a second value for a single-value header, and * beside other contacts', () => {
    const msg = request(wire([...BASE, 'Contact: <sip:alice@192.0.2.4>']));
    assert.throws(() => addHeader(msg, 'To', '<sip:x@y>'), /single value/);
    assert.throws(() => addHeader(msg, 'Contact', '*'), /'\*' must be the only Contact value/);
  });

  test('edit - removeHeader and getHeaderValues', () => {
    const msg = request(wire([...BASE, 'Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>', 'Date: Sat, 13 Nov 2010 23:29:00 GMT']));
    assert.deepEqual(getHeaderValues(msg, 'route'), ['<sip:p1.example.com;lr>', '<sip:p2.example.com;lr>']);
    assert.deepEqual(getHeaderValues(msg, 'v'), ['SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds']);
    assert.deepEqual(getHeaderValues(msg, 'cseq'), ['314159 INVITE']);
    assert.deepEqual(getHeaderValues(msg, 'Date'), ['Sat, 13 Nov 2010 23:29:00 GMT']);
    assert.deepEqual(getHeaderValues(msg, 'Absent'), []);
    assert.equal(removeHeader(msg, 'ROUTE'), true);
    assert.equal(removeHeader(msg, 'route'), false);
    assert.deepEqual(getHeaderValues(msg, 'route'), []);
    setHeader(msg, 'Date', []);
    assert.equal(msg.headers.date, undefined);
  });
});

describe('codec - helpers', () => {
  test('helpers - parseNameAddr and formatNameAddr', () => {
    assert.deepEqual(parseNameAddr('"Alice A" <sip:alice@atlanta.example.com>;tag=88sja8x'), {
      name: 'Alice A',
      uri: 'sip:alice@atlanta.example.com',
      params: { tag: '88sja8x' },
    });
    assert.deepEqual(parseNameAddr('sip:alice@atlanta.example.com ; TAG = x'), { uri: 'sip:alice@atlanta.example.com', params: { tag: 'x' } });
    assert.deepEqual(parseNameAddr('Anonymous<sip:c8oqz84zk7z@privacy.org>'), { name: 'Anonymous', uri: 'sip:c8oqz84zk7z@privacy.org', params: {} });
    assert.throws(() => parseNameAddr('<sip:a@b> junk'), SipCodecError);
    assert.throws(() => parseNameAddr('<sip:a@b>;;'), SipCodecError);
    const n = parseNameAddr('"A \\"B\\"" <sip:a@b;lr>;x="y z"');
    assert.deepEqual(parseNameAddr(formatNameAddr(n)), n);
  });

  test('helpers - parseVia and formatVia', () => {
    const via = parseVia('SIP/2.0/udp pc33.atlanta.example.com:5066;branch=z9hG4bK776asdhds;rport');
    assert.deepEqual(via, { version: '2.0', protocol: 'UDP', host: 'pc33.atlanta.example.com', port: 5066, params: { branch: 'z9hG4bK776asdhds', rport: null } });
    assert.equal(formatVia(via), 'SIP/2.0/UDP pc33.atlanta.example.com:5066;branch=z9hG4bK776asdhds;rport');
    assert.throws(() => parseVia('HTTP/1.1/TCP host'), /not SIP/);
    assert.throws(() => parseVia('SIP/2.0/UDP host;branch=a junk'), SipCodecError);
  });

  test('helpers - parseAuth rejects what it cannot read', () => {
    assert.throws(() => parseAuth('Digest username="unterminated'), SipCodecError);
    assert.throws(() => parseAuth('Digest realm="a" nonce="b"'), SipCodecError);
    assert.throws(() => parseAuth('Digest'), SipCodecError);
    assert.deepEqual(parseAuth('NoOneKnowsThisScheme opaque-data=here'), { scheme: 'NoOneKnowsThisScheme', params: { 'opaque-data': 'here' } });
  });
});
