/**
 * The SIP codec's parse and stringify: decoding into the model, sanity checks, writing back, and a seeded
 * fuzz that holds parseMessage to its contract on mangled input. RFC 4475 has its own suite
 * (sip-rfc4475.test.ts); header helpers, makeResponse and editing are in sip-headers.test.ts.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, test } from 'node:test';
import {
  KEEPALIVE_ONLY,
  SipCodecError,
  formatAuth,
  formatNameAddr,
  getHeaderValues,
  isRequest,
  makeResponse,
  parseAuth,
  parseMessage,
  setHeader,
  stringifyMessage,
  type SipRequest,
} from '../../core/sip/index.js';
import { BASE, failure, parseOk, request, text, wire } from '../support/sip-wire.js';

describe('codec - parse', () => {
  test('codec - Content-Length counts bytes of a UTF-8 body', () => {
    const body = 'héllo wörld ☎\r\n';
    const msg = request(wire(BASE, { body }));
    assert.equal(msg.headers['content-length'], Buffer.byteLength(body));
    assert.notEqual(Buffer.byteLength(body), body.length);
    assert.equal(msg.content, body);
  });

  test('codec - a Content-Length counted in characters, not octets, cuts a datagram body and breaks a stream message', () => {
    // What sip 0.0.6's stringify writes for a non-ASCII body. A datagram cannot tell (RFC 3261 18.3 says to
    // ignore what follows), so the body is cut; a stream message has octets left over and fails.
    const body = 'héllo ☎';
    const { body: cut } = parseOk(wire(BASE, { body, length: body.length }));
    assert.equal(cut.length, body.length);
    assert.match(failure(wire(BASE, { body, length: body.length }), false).error, /octets after the body/);
  });

  test('codec - the body is returned as bytes, content as its UTF-8 decoding', () => {
    const body = Buffer.from([0x00, 0xff, 0xfe, 0x41, 0x0d, 0x0a]);
    const { body: out, message } = parseOk(wire(BASE, { body }));
    assert.deepEqual(Buffer.from(out), body);
    assert.equal(message.content, body.toString('utf8'));
  });

  test('codec - the returned body does not alias the input buffer', () => {
    const buf = wire(BASE, { body: 'abc' });
    const { body } = parseOk(buf);
    buf[buf.length - 1] = 0x7a;
    assert.equal(text(body), 'abc');
  });

  test('codec - headers are decoded as UTF-8', () => {
    const msg = request(wire([...BASE, 'Subject: ça marche ☺'], { start: 'INVITE sip:bob@biloxi.example.com SIP/2.0' }));
    assert.equal(msg.headers.subject, 'ça marche ☺');
  });

  test('codec - display names are unquoted, quoted-pairs resolved', () => {
    const headers = BASE.map((h) => (h.startsWith('From:') ? 'From: "Alice \\"A\\" \\\\ Smith" <sip:alice@atlanta.example.com>;tag=1' : h));
    const msg = request(wire(headers));
    assert.equal(msg.headers.from.name, 'Alice "A" \\ Smith');
    assert.equal(msg.headers.to.name, 'Bob');
  });

  test('codec - every NameAddr uri is a string, including Route, Record-Route and Path', () => {
    const msg = request(
      wire([
        ...BASE,
        'Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>',
        'Record-Route: <sip:rr.example.com;lr>',
        'Path: <sip:edge.example.com;lr>',
        'Contact: <sip:alice@192.0.2.4>;expires=60',
      ]),
    );
    assert.deepEqual(msg.headers.route, [
      { uri: 'sip:p1.example.com;lr', params: {} },
      { uri: 'sip:p2.example.com;lr', params: {} },
    ]);
    assert.equal(msg.headers['record-route']![0]!.uri, 'sip:rr.example.com;lr');
    assert.equal(msg.headers.path![0]!.uri, 'sip:edge.example.com;lr');
    assert.deepEqual(msg.headers.contact, [{ uri: 'sip:alice@192.0.2.4', params: { expires: '60' } }]);
  });

  test('codec - a Contact list without <> keeps every entry', () => {
    const msg = request(wire([...BASE, 'Contact: sip:a@192.0.2.1, sip:b@192.0.2.2;q=0.5']));
    assert.deepEqual(msg.headers.contact, [
      { uri: 'sip:a@192.0.2.1', params: {} },
      { uri: 'sip:b@192.0.2.2', params: { q: '0.5' } },
    ]);
  });

  test('codec - Contact: * is kept as "*"', () => {
    const msg = request(wire([...BASE.map((h) => h.replace('314159 INVITE', '1 REGISTER')), 'Contact: *', 'Expires: 0'], { start: 'REGISTER sip:example.com SIP/2.0' }));
    assert.equal(msg.headers.contact, '*');
  });

  test('codec - Max-Forwards and Content-Length are numbers', () => {
    const msg = request(wire(BASE));
    assert.equal(msg.headers['max-forwards'], 70);
    assert.equal(msg.headers['content-length'], 0);
  });

  test('codec - credentials are unquoted into scheme and params', () => {
    const msg = request(
      wire([
        ...BASE,
        'Proxy-Authorization: Digest username="alice", realm="atlanta.example.com", nonce="a,b", uri="sip:bob@biloxi.example.com", response="42ce", algorithm=MD5, qop=auth, nc=00000001, cnonce="0a4f"',
        'Authorization: Bearer mF_9.B5f-4.1JqM',
      ]),
    );
    assert.deepEqual(msg.headers['proxy-authorization'], [
      {
        scheme: 'Digest',
        params: {
          username: 'alice',
          realm: 'atlanta.example.com',
          nonce: 'a,b',
          uri: 'sip:bob@biloxi.example.com',
          response: '42ce',
          algorithm: 'MD5',
          qop: 'auth',
          nc: '00000001',
          cnonce: '0a4f',
        },
      },
    ]);
    assert.deepEqual(msg.headers.authorization, [{ scheme: 'Bearer', params: {}, token68: 'mF_9.B5f-4.1JqM' }]);
  });

  test('codec - repeated generic headers are joined with ", "', () => {
    const msg = request(wire([...BASE, 'Allow: INVITE, ACK', 'Supported: timer', 'Allow: BYE']));
    assert.equal(msg.headers.allow, 'INVITE, ACK, BYE');
    assert.equal(msg.headers.supported, 'timer');
  });

  test('codec - folded header lines are unfolded', () => {
    const msg = request(wire([...BASE, 'Subject: first', ' \t second', 'Accept: a/b,', '    c/d']));
    assert.equal(msg.headers.subject, 'first second');
    assert.equal(msg.headers.accept, 'a/b, c/d');
  });

  test('codec - compact forms are expanded', () => {
    const compact: Record<string, [string, string]> = {
      a: ['accept-contact', '*;audio'],
      b: ['referred-by', '<sip:carol@example.com>'],
      c: ['content-type', 'text/plain'],
      d: ['request-disposition', 'proxy'],
      e: ['content-encoding', 'gzip'],
      j: ['reject-contact', '*;video'],
      k: ['supported', 'timer'],
      o: ['event', 'presence'],
      r: ['refer-to', '<sip:dave@example.com>'],
      s: ['subject', 'hi'],
      u: ['allow-events', 'presence'],
      x: ['session-expires', '1800'],
      y: ['identity', 'abc'],
    };
    const headers = [
      'v: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds',
      't: <sip:bob@biloxi.example.com>',
      'f: <sip:alice@atlanta.example.com>;tag=1',
      'i: abc@pc33',
      'CSeq: 1 INVITE',
      'm: <sip:alice@192.0.2.4>',
      ...Object.entries(compact).map(([short, [, value]]) => `${short}: ${value}`),
    ];
    const msg = request(Buffer.from(`INVITE sip:bob@biloxi.example.com SIP/2.0\r\n${headers.join('\r\n')}\r\nl: 0\r\n\r\n`));
    assert.equal(msg.headers.via[0]!.host, 'pc33.atlanta.example.com');
    assert.equal(msg.headers.to.uri, 'sip:bob@biloxi.example.com');
    assert.equal(msg.headers.from.params.tag, '1');
    assert.equal(msg.headers['call-id'], 'abc@pc33');
    assert.equal(msg.headers.contact !== '*' && msg.headers.contact![0]!.uri, 'sip:alice@192.0.2.4');
    assert.equal(msg.headers['content-length'], 0);
    for (const [name, value] of Object.values(compact)) assert.equal(msg.headers[name], value, name);
  });

  test('codec - header names are case-insensitive and % is not an escape in them', () => {
    const msg = request(wire([...BASE, 'cOnTaCt: <sip:a@192.0.2.1>', 'C%6Fntact: <sip:b@192.0.2.2>']));
    assert.equal(msg.headers.contact !== '*' && msg.headers.contact!.length, 1);
    assert.equal(msg.headers['c%6fntact'], '<sip:b@192.0.2.2>');
  });

  test('codec - Via: IPv6 sent-by, received and rport, several per line, LWS around separators', () => {
    const msg = request(
      wire([
        'Via: SIP / 2.0 / tcp [2001:db8::1]:5070 ; branch = z9hG4bKa ; received=2001:db8::9;rport , SIP/2.0/UDP 192.0.2.1',
        ...BASE.slice(1),
      ]),
    );
    assert.deepEqual(msg.headers.via, [
      { version: '2.0', protocol: 'TCP', host: '[2001:db8::1]', port: 5070, params: { branch: 'z9hG4bKa', received: '2001:db8::9', rport: null } },
      { version: '2.0', protocol: 'UDP', host: '192.0.2.1', params: {} },
    ]);
  });

  test('codec - header and parameter names that shadow Object.prototype are plain data', () => {
    const buf = wire([
      'Via: SIP/2.0/UDP h.example.com;branch=z9hG4bK1;__proto__',
      ...BASE.slice(1).map((h) => (h.startsWith('To:') ? 'To: <sip:bob@biloxi.example.com;__proto__=1>;constructor=2' : h)),
      'constructor: a',
      '__proto__: b',
      'toString: c',
      'hasOwnProperty: d',
      'Authorization: Digest __proto__="x", realm="r"',
    ], { start: 'INVITE sip:bob@biloxi.example.com;__proto__=y SIP/2.0' });
    const msg = request(buf);
    assert.equal(msg.headers.constructor, 'a');
    assert.equal(Object.getOwnPropertyDescriptor(msg.headers, '__proto__')?.value, 'b');
    assert.equal(msg.headers.tostring, 'c');
    assert.equal(Object.getPrototypeOf(msg.headers.via[0]!.params), Object.prototype);
    assert.ok(Object.hasOwn(msg.headers.via[0]!.params, '__proto__'));
    assert.equal(msg.headers.authorization![0]!.params.realm, 'r');
    const again = parseOk(Buffer.from(stringifyMessage(msg)), false);
    assert.deepEqual(again.message, msg);
    const plain = request(wire(BASE));
    assert.deepEqual(getHeaderValues(plain, 'constructor'), []);
    assert.deepEqual(getHeaderValues(plain, 'toString'), []);
    setHeader(plain, 'constructor', 'x');
    assert.deepEqual(getHeaderValues(plain, 'constructor'), ['x']);
  });

  test('codec - leading CRLFs before the start line are ignored', () => {
    const msg = request(Buffer.concat([Buffer.from('\r\n\r\n\r\n'), wire(BASE)]));
    assert.equal(msg.method, 'INVITE');
  });

  test('codec - a datagram ignores octets after Content-Length', () => {
    const { body } = parseOk(Buffer.concat([wire(BASE, { body: 'abc' }), Buffer.from('garbage')]));
    assert.equal(text(body), 'abc');
  });

  test('codec - a datagram without Content-Length takes the rest as body', () => {
    const { message, body } = parseOk(wire(BASE, { body: 'v=0\r\n', length: null }));
    assert.equal(text(body), 'v=0\r\n');
    assert.equal(message.headers['content-length'], 5);
  });

  test('codec - a stream message must carry a Content-Length that matches its body', () => {
    assert.match(failure(wire(BASE, { body: 'abc', length: null }), false).error, /mandatory on stream/);
    assert.match(failure(wire(BASE, { body: 'abcdef', length: 3 }), false).error, /3 octets after the body/);
    parseOk(wire(BASE, { body: 'abc' }), false);
  });

  test('codec - a Via without branch is accepted (RFC 2543), a branch without value is not', () => {
    parseOk(wire(['Via: SIP/2.0/UDP host.example.com', ...BASE.slice(1)]));
    const result = failure(wire(['Via: SIP/2.0/UDP host.example.com;branch', ...BASE.slice(1)]));
    assert.equal(result.reply?.status, 400);
  });
});

describe('codec - sanity checks', () => {
  const cases: Array<[string, Buffer, RegExp]> = [
    ['no empty line after the headers', Buffer.from(`INVITE sip:bob@b.example.com SIP/2.0\r\n${BASE.join('\r\n')}\r\n`), /no empty line/],
    ['a Via that is not SIP/2.0', wire(['Via: SIP/3.0/UDP pc33.atlanta.example.com;branch=z9hG4bK1', ...BASE.slice(1)]), /Via: version 3\.0 is not 2\.0/],
    ['a header line without a colon', wire([...BASE, 'NoColonHere']), /malformed header line/],
    ['a space inside a header name', wire([...BASE, 'Max Forwards: 70']), /malformed header line/],
    ['a bare LF inside a header value', wire([...BASE, 'Subject: a\nb']), /stray CR or LF/],
    ['a continuation before any header', Buffer.from(`INVITE sip:b@b.example.com SIP/2.0\r\n folded\r\n${BASE.join('\r\n')}\r\nl: 0\r\n\r\n`), /continuation line/],
    ['Max-Forwards over 255', wire([...BASE.filter((h) => !h.startsWith('Max')), 'Max-Forwards: 256']), /Max-Forwards/],
    ['Max-Forwards not a number', wire([...BASE.filter((h) => !h.startsWith('Max')), 'Max-Forwards: seventy']), /Max-Forwards/],
    ['Content-Length over 2^31-1', wire(BASE, { length: 2 ** 31 }), /Content-Length/],
    ['CSeq without method', wire([...BASE.filter((h) => !h.startsWith('CSeq')), 'CSeq: 12']), /CSeq: '12' is not a sequence number and a method/],
    ['Content-Type twice', wire([...BASE, 'Content-Type: a/b', 'Content-Type: c/d']), /Content-Type: appears more than once/],
    ['Call-ID with a space', wire([...BASE.filter((h) => !h.startsWith('Call-ID')), 'Call-ID: a b']), /Call-ID/],
    ['an unquoted display name with a comma', wire([...BASE.filter((h) => !h.startsWith('From')), 'From: Doe, John <sip:j@192.0.2.1>;tag=1']), /From: a display name/],
    ['the same in a Contact list, where the comma splits values', wire([...BASE, 'Contact: Doe, John <sip:j@192.0.2.1>']), /Contact: not a URI: 'Doe'/],
    ['an unbalanced quote in Contact', wire([...BASE, 'Contact: "John <sip:j@192.0.2.1>']), /unterminated/],
    ['spaces inside <>', wire([...BASE, 'Contact: <sip:j@192.0.2.1 >']), /whitespace inside <addr-spec>/],
    ['a bad SIP URI in To', wire([...BASE.filter((h) => !h.startsWith('To')), 'To: <sip:bob@>']), /malformed sip URI/],
    ['a method that is not a token', wire(BASE, { start: 'INV@ITE sip:bob@biloxi.example.com SIP/2.0' }), /not a token/],
    ['a tab in the request line', wire(BASE, { start: 'INVITE\tsip:bob@biloxi.example.com SIP/2.0' }), /single spaces/],
    ['a Request-URI that is no URI', wire(BASE, { start: 'INVITE bob SIP/2.0' }), /not an absolute URI/],
    ['a malformed version', wire(BASE, { start: 'INVITE sip:bob@biloxi.example.com SIP/2' }), /malformed SIP version/],
    ['an ACK whose CSeq says INVITE', wire(BASE, { start: 'ACK sip:bob@biloxi.example.com SIP/2.0' }), /CSeq method INVITE does not match the request method ACK/],
    ['a CANCEL whose CSeq says INVITE', wire(BASE, { start: 'CANCEL sip:bob@biloxi.example.com SIP/2.0' }), /does not match the request method CANCEL/],
  ];
  for (const [what, buf, because] of cases) {
    test(`checks - ${what} is answered with 400`, () => {
      const result = failure(buf);
      assert.match(result.error, because);
      assert.equal(result.reply?.status, 400, result.error);
      assert.equal(result.reply?.reason, 'Bad Request');
    });
  }

  test('checks - the error names the first five problems and counts the rest', () => {
    const junk = Array.from({ length: 40 }, (_, i) => `Bad Header ${i}: x`);
    const { error } = failure(wire([...BASE, ...junk]));
    assert.equal(error.split('; ').length, 6);
    assert.match(error, /; and 35 more$/);
  });

  test('checks - a version other than SIP/2.0 is answered with 505, even with other problems', () => {
    const result = failure(wire(BASE.slice(0, 3), { start: 'INVITE sip:bob@biloxi.example.com SIP/3.0' }));
    assert.equal(result.reply?.status, 505);
    assert.equal(result.reply?.reason, 'Version Not Supported');
  });

  test('checks - the version is case-insensitive (RFC 3261 7.1)', () => {
    parseOk(wire(BASE, { start: 'INVITE sip:bob@biloxi.example.com sip/2.0' }));
  });

  test('checks - a request with no usable top Via is dropped, not answered', () => {
    assert.equal(failure(wire(BASE.slice(1))).reply, undefined);
    assert.equal(failure(wire(['Via: SIP/2.0/UDP', ...BASE.slice(1)])).reply, undefined);
    assert.equal(failure(wire(['Via: SIP/2.0/UDP host:99999;branch=z9hG4bK1', ...BASE.slice(1)])).reply, undefined);
  });

  test('checks - a start line that is not SIP is dropped', () => {
    assert.equal(failure(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')).reply, undefined);
    const keepalive = failure(Buffer.from('\r\n\r\n'));
    assert.equal(keepalive.reply, undefined);
    assert.equal(keepalive.error, KEEPALIVE_ONLY);
    assert.equal(failure(Buffer.alloc(0)).error, KEEPALIVE_ONLY);
  });

  test('checks - responses are never answered', () => {
    const headers = [...BASE.filter((h) => !h.startsWith('Max')), 'Content-Length: 0'];
    const ok = (start: string) => parseMessage(Buffer.from(`${start}\r\n${headers.join('\r\n')}\r\n\r\n`), { datagram: true });
    assert.ok(ok('SIP/2.0 180 Ringing').ok);
    for (const start of ['SIP/2.0 099 Low', 'SIP/2.0 700 High', 'SIP/2.0 20 OK', 'SIP/3.0 200 OK', 'SIP/2.0  200 OK']) {
      const result = ok(start);
      assert.equal(result.ok, false, start);
      assert.equal(!result.ok && result.reply, undefined, start);
    }
    const noCallId = parseMessage(Buffer.from(`SIP/2.0 200 OK\r\n${headers.filter((h) => !h.startsWith('Call-ID')).join('\r\n')}\r\n\r\n`), { datagram: true });
    assert.equal(noCallId.ok, false);
    assert.equal(!noCallId.ok && noCallId.reply, undefined);
  });

  test('checks - a status line without a reason phrase is tolerated', () => {
    const headers = [...BASE.filter((h) => !h.startsWith('Max')), 'Content-Length: 0'];
    const { message } = parseOk(Buffer.from(`SIP/2.0 100\r\n${headers.join('\r\n')}\r\n\r\n`));
    assert.ok(!isRequest(message));
    assert.equal(message.status, 100);
    assert.equal(message.reason, '');
  });

  test('checks - tel and unknown Request-URI schemes parse; the edge decides about them', () => {
    parseOk(wire(BASE, { start: 'INVITE tel:+1-201-555-0123 SIP/2.0' }));
    parseOk(wire(BASE, { start: 'INVITE urn:service:sos SIP/2.0' }));
  });
});

describe('codec - found by fuzzing', () => {
  test('fuzz regression - a line with a stray CR stays out of the best-effort request, so the 400 can be written', () => {
    const result = failure(wire(BASE.map((h) => (h.startsWith('From:') ? 'From: <sip:alice@atlanta.exa\rmple.com>;tag=1' : h))));
    assert.ok(result.reply);
    assert.equal((result.reply.request.headers as Record<string, unknown>).from, undefined);
    stringifyMessage(makeResponse(result.reply.request, 400, 'Bad Request'));
  });

  test('fuzz regression - a URI of any scheme may not hold <, >, " or whitespace', () => {
    assert.match(failure(wire([...BASE, 'Contact: ip:user@host.example.com>'])).error, /malformed URI/);
    assert.match(failure(wire([...BASE, 'Contact: <urn:a<b>'])).error, /malformed URI/);
    assert.match(failure(wire([...BASE, 'Contact: <urn:a"b>'])).error, /unterminated quoted string/);
  });

  test('fuzz regression - repeated empty generic headers read back the same', () => {
    const first = parseOk(wire([...BASE, 'Subject:', 'Subject:', 'Warning:', 'Warning: 399 x "y"']));
    assert.equal(first.message.headers.subject, '');
    assert.equal(first.message.headers.warning, '399 x "y"');
    assert.deepEqual(parseOk(Buffer.from(stringifyMessage(first.message)), false), first);
  });
});

describe('codec - stringify', () => {
  test('stringify - canonical header names', () => {
    const msg = request(wire([...BASE, 'WWW-Authenticate: Digest realm="a", nonce="b"', 'Mime-Version: 1.0', 'x-custom-thing: 1']));
    const out = text(stringifyMessage(msg));
    for (const name of ['Call-ID:', 'CSeq:', 'Max-Forwards:', 'WWW-Authenticate:', 'MIME-Version:', 'X-Custom-Thing:', 'Content-Length:']) {
      assert.ok(out.includes(`\r\n${name} `), `${name} in\n${out}`);
    }
  });

  test('stringify - Content-Length is computed in bytes and always present', () => {
    const msg = request(wire(BASE));
    msg.content = 'ü☎';
    delete msg.headers['content-length'];
    const out = text(stringifyMessage(msg));
    assert.match(out, /\r\nContent-Length: 5\r\n\r\nü☎$/);
  });

  test('stringify - a stale Content-Length is replaced in place', () => {
    const msg = request(wire(BASE));
    msg.headers['content-length'] = 999;
    const out = text(stringifyMessage(msg, Buffer.from('abcd')));
    assert.equal(out.match(/Content-Length/g)!.length, 1);
    assert.match(out, /Content-Length: 4\r\n\r\nabcd$/);
  });

  test('stringify - body bytes are appended verbatim and win over content', () => {
    const body = Buffer.from([0xff, 0x00, 0x80]);
    const msg = request(wire(BASE, { body }));
    const out = Buffer.from(stringifyMessage(msg, body));
    assert.deepEqual(out.subarray(out.length - 3), body);
    assert.match(out.toString('latin1'), /Content-Length: 3\r\n/);
  });

  test('stringify - headers keep insertion order; list headers get one line per value', () => {
    const msg = request(wire(['Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/UDP b.example.com;branch=z9hG4bK2', ...BASE.slice(1)]));
    const lines = text(stringifyMessage(msg)).split('\r\n');
    assert.deepEqual(lines.slice(0, 4), [
      'INVITE sip:bob@biloxi.example.com SIP/2.0',
      'Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1',
      'Via: SIP/2.0/UDP b.example.com;branch=z9hG4bK2',
      'Max-Forwards: 70',
    ]);
  });

  test('stringify - display names are quoted unless they are tokens and spaces', () => {
    assert.equal(formatNameAddr({ name: 'Bob Smith', uri: 'sip:b@x', params: {} }), 'Bob Smith <sip:b@x>');
    assert.equal(formatNameAddr({ name: 'Smith, Bob', uri: 'sip:b@x', params: {} }), '"Smith, Bob" <sip:b@x>');
    assert.equal(formatNameAddr({ name: 'a "q" \\', uri: 'sip:b@x', params: {} }), '"a \\"q\\" \\\\" <sip:b@x>');
    assert.equal(formatNameAddr({ name: '', uri: 'sip:b@x', params: { tag: '1', lr: null } }), '"" <sip:b@x>;tag=1;lr');
    assert.equal(formatNameAddr({ name: 'Zoë', uri: 'sip:z@x', params: {} }), '"Zoë" <sip:z@x>');
  });

  test('stringify - CR or LF in a value is refused (no header injection)', () => {
    const msg = request(wire(BASE));
    msg.headers.subject = 'hi\r\nVia: SIP/2.0/UDP evil.example.com';
    assert.throws(() => stringifyMessage(msg), SipCodecError);
    const msg2 = request(wire(BASE));
    msg2.headers.to.name = 'Bob\r\nX: y';
    assert.throws(() => stringifyMessage(msg2), SipCodecError);
  });

  test('stringify - a malformed model is refused with SipCodecError', () => {
    const bad = (edit: (m: SipRequest) => void) => {
      const msg = request(wire(BASE));
      edit(msg);
      assert.throws(() => stringifyMessage(msg), SipCodecError);
    };
    bad((m) => (m.method = 'IN VITE'));
    bad((m) => (m.uri = 'sip:a b'));
    bad((m) => ((m.headers as Record<string, unknown>).via = 'SIP/2.0/UDP x'));
    bad((m) => ((m.headers as Record<string, unknown>).cseq = { seq: -1, method: 'INVITE' }));
    bad((m) => (m.headers['max-forwards'] = 300));
    bad((m) => ((m.headers as Record<string, unknown>)['bad name'] = 'x'));
    bad((m) => ((m as unknown as Record<string, unknown>).method = 7));
    bad((m) => ((m as unknown as Record<string, unknown>).content = { sdp: true }));
    bad((m) => ((m as unknown as Record<string, unknown>).headers = null));
    const response = makeResponse(request(wire(BASE)), 200, 'OK');
    response.status = 99;
    assert.throws(() => stringifyMessage(response), SipCodecError);
    response.status = 200;
    (response as unknown as Record<string, unknown>).reason = undefined;
    assert.throws(() => stringifyMessage(response), SipCodecError);
  });

  test('stringify - digest quoting: challenge qop quoted, credentials qop bare, tokens bare', () => {
    const challenge = parseAuth('Digest realm="atlanta.example.com", qop="auth", nonce="84a4cc6f", algorithm=MD5, stale=FALSE');
    assert.equal(
      formatAuth(challenge, { challenge: true }),
      'Digest realm="atlanta.example.com", qop="auth", nonce="84a4cc6f", algorithm=MD5, stale=FALSE',
    );
    const credentials = parseAuth('Digest username="bob", realm="a", nonce="n", uri="sip:a", response="r", qop=auth, nc=00000001, cnonce="c"');
    assert.equal(formatAuth(credentials), 'Digest username="bob", realm="a", nonce="n", uri="sip:a", response="r", qop=auth, nc=00000001, cnonce="c"');
    assert.equal(formatAuth({ scheme: 'Other', params: { a: 'token', b: 'two words' } }), 'Other a=token, b="two words"');
  });

  test('stringify - parse, stringify, parse is stable for a typical INVITE', () => {
    const first = parseOk(
      wire(
        [
          ...BASE,
          'Route: <sip:p1.example.com;lr>',
          'Contact: "Alice" <sip:alice@192.0.2.4;transport=tcp>;+sip.instance="<urn:uuid:1>";expires=60',
          'Proxy-Authorization: Digest username="alice", realm="a", nonce="n", uri="sip:bob@b", response="r"',
          'Content-Type: application/sdp',
        ],
        { body: 'v=0\r\no=- 1 1 IN IP4 192.0.2.4\r\n' },
      ),
    );
    const second = parseOk(Buffer.from(stringifyMessage(first.message, first.body)), false);
    assert.deepEqual(second, first);
  });
});
