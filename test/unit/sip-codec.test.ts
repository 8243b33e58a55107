/**
 * The SIP codec: parseMessage, stringifyMessage, makeResponse, the header editing helpers and the small
 * name-addr / Via / credentials helpers. RFC 4475 has its own suite (sip-rfc4475.test.ts); these tests pin
 * the behaviours that suite does not reach.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, test } from 'node:test';
import {
  SipCodecError,
  addHeader,
  formatAuth,
  formatNameAddr,
  formatVia,
  getHeaderValues,
  isRequest,
  makeResponse,
  parseAuth,
  parseMessage,
  parseNameAddr,
  parseVia,
  removeHeader,
  setHeader,
  stringifyMessage,
  type ParseResult,
  type SipMessage,
  type SipRequest,
} from '../../core/sip/index.js';

const BASE = [
  'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds',
  'Max-Forwards: 70',
  'To: Bob <sip:bob@biloxi.example.com>',
  'From: Alice <sip:alice@atlanta.example.com>;tag=1928301774',
  'Call-ID: a84b4c76e66710@pc33.atlanta.example.com',
  'CSeq: 314159 INVITE',
];

/** A request as bytes: start line, headers, and Content-Length (counted in octets) unless `length` says otherwise. */
function wire(headers: string[], options: { start?: string; body?: string | Buffer; length?: number | null } = {}): Buffer {
  const body = typeof options.body === 'string' ? Buffer.from(options.body, 'utf8') : (options.body ?? Buffer.alloc(0));
  const lines = [options.start ?? 'INVITE sip:bob@biloxi.example.com SIP/2.0', ...headers];
  if (options.length !== null) lines.push(`Content-Length: ${options.length ?? body.length}`);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'utf8'), body]);
}

function parse(buf: Buffer, datagram = true): ParseResult {
  return parseMessage(buf, { datagram });
}

function parseOk(buf: Buffer, datagram = true): { message: SipMessage; body: Uint8Array } {
  const result = parse(buf, datagram);
  assert.ok(result.ok, result.ok ? '' : result.error);
  return result;
}

function request(buf: Buffer): SipRequest {
  const { message } = parseOk(buf);
  assert.ok(isRequest(message));
  return message;
}

function failure(buf: Buffer, datagram = true): Extract<ParseResult, { ok: false }> {
  const result = parse(buf, datagram);
  assert.equal(result.ok, false, 'expected a parse failure');
  return result as Extract<ParseResult, { ok: false }>;
}

function text(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('utf8');
}

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
    ['a header line without a colon', wire([...BASE, 'NoColonHere']), /malformed header line/],
    ['a space inside a header name', wire([...BASE, 'Max Forwards: 70']), /malformed header line/],
    ['a bare LF inside a header value', wire([...BASE, 'Subject: a\nb']), /stray CR or LF/],
    ['a continuation before any header', Buffer.from(`INVITE sip:b@b.example.com SIP/2.0\r\n folded\r\n${BASE.join('\r\n')}\r\nl: 0\r\n\r\n`), /continuation line/],
    ['Max-Forwards over 255', wire([...BASE.filter((h) => !h.startsWith('Max')), 'Max-Forwards: 256']), /Max-Forwards/],
    ['Max-Forwards not a number', wire([...BASE.filter((h) => !h.startsWith('Max')), 'Max-Forwards: seventy']), /Max-Forwards/],
    ['Content-Length over 2^31-1', wire(BASE, { length: 2 ** 31 }), /Content-Length/],
    ['CSeq without method', wire([...BASE.filter((h) => !h.startsWith('CSeq')), 'CSeq: 12']), /malformed CSeq/],
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
    assert.equal(failure(Buffer.from('\r\n\r\n')).reply, undefined);
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
    const response = makeResponse(request(wire(BASE)), 200, 'OK');
    response.status = 99;
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
