/** SIP, SIPS and tel URIs: parseUri, formatUri, parseTelUri, uriScheme. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatUri, parseTelUri, parseUri, uriScheme } from '../../core/sip/index.js';

describe('uri', () => {
  test('uri - user, password, host, port, params and headers', () => {
    assert.deepEqual(parseUri('sip:alice:secretword@atlanta.example.com:5061;transport=tcp;lr?subject=project%20x&priority=urgent'), {
      scheme: 'sip',
      user: 'alice',
      password: 'secretword',
      host: 'atlanta.example.com',
      port: 5061,
      params: { transport: 'tcp', lr: null },
      headers: { subject: 'project%20x', priority: 'urgent' },
    });
  });

  test('uri - absent parts are absent keys, not undefined values', () => {
    const uri = parseUri('sips:biloxi.example.com');
    assert.deepEqual(uri, { scheme: 'sips', host: 'biloxi.example.com', params: {}, headers: {} });
    assert.deepEqual(Object.keys(uri!), ['scheme', 'host', 'params', 'headers']);
  });

  test('uri - IPv6 references keep their brackets', () => {
    assert.deepEqual(parseUri('sip:bob@[2001:db8::10]:5070;maddr=[2001:db8::1]'), {
      scheme: 'sip',
      user: 'bob',
      host: '[2001:db8::10]',
      port: 5070,
      params: { maddr: '[2001:db8::1]' },
      headers: {},
    });
    assert.equal(parseUri('sip:[::ffff:192.0.2.1]')?.host, '[::ffff:192.0.2.1]');
  });

  test('uri - percent-escapes are preserved as written', () => {
    const uri = parseUri('sip:sips%3Auser%40example.com@example.net;%6C%72;n%61me=v%61lue%25%34%31');
    assert.equal(uri?.user, 'sips%3Auser%40example.com');
    assert.deepEqual(uri?.params, { '%6c%72': null, 'n%61me': 'v%61lue%25%34%31' });
    assert.equal(parseUri('sip:null-%00-null@example.com')?.user, 'null-%00-null');
  });

  test('uri - the user part may carry ; ? / and other user-unreserved characters', () => {
    assert.equal(parseUri('sip:user;par=u%40example.net@example.com')?.user, 'user;par=u%40example.net');
    const odd = parseUri("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com");
    assert.equal(odd?.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
    assert.equal(odd?.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
    assert.equal(odd?.host, 'example.com');
  });

  test('uri - scheme is case-insensitive, param names are lower-cased, values kept', () => {
    assert.deepEqual(parseUri('SIP:Alice@Atlanta.Example.COM;Transport=TCP'), {
      scheme: 'sip',
      user: 'Alice',
      host: 'Atlanta.Example.COM',
      params: { transport: 'TCP' },
      headers: {},
    });
  });

  test('uri - malformed URIs are null', () => {
    for (const bad of [
      'sip:',
      'sip:@example.com',
      'sip:alice@',
      'sip:alice@example.com:',
      'sip:alice@example.com:65536',
      'sip:alice@example.com:5o60',
      'sip:alice@exa mple.com',
      'sip:al ice@example.com',
      'sip:alice@example.com;',
      'sip:alice@example.com;=x',
      'sip:alice@example.com?subject',
      'sip:a%zzb@example.com',
      'sip:alice@[2001:db8::1',
      'sip:alice@[]',
      'sip:alice@example.com>',
      'tel:+1234',
      'http://example.com',
      'alice@example.com',
    ]) {
      assert.equal(parseUri(bad), null, bad);
    }
  });

  test('uri - formatUri writes back what parseUri read', () => {
    for (const s of [
      'sip:alice:secretword@atlanta.example.com:5061;transport=tcp;lr?subject=project%20x&priority=urgent',
      'sips:biloxi.example.com',
      'sip:bob@[2001:db8::10]:5070;maddr=[2001:db8::1]',
      'sip:+1-212-555-1212:1234@gateway.com;user=phone',
      'sip:%61lice@atlanta.example.com;x=%20',
    ]) {
      assert.equal(formatUri(parseUri(s)!), s);
    }
  });

  test('uri - formatUri of a built object', () => {
    assert.equal(formatUri({ scheme: 'sip', host: '192.0.2.1', port: 5060, params: { lr: null, transport: 'udp' }, headers: {} }), 'sip:192.0.2.1:5060;lr;transport=udp');
  });

  test('uri - tel URIs, global and local', () => {
    assert.deepEqual(parseTelUri('tel:+1-201-555-0123'), { number: '+1-201-555-0123', params: {} });
    assert.deepEqual(parseTelUri('tel:7042;phone-context=example.com'), { number: '7042', params: { 'phone-context': 'example.com' } });
    assert.deepEqual(parseTelUri('TEL:+33(0)1.23;ext=12;isub=x'), { number: '+33(0)1.23', params: { ext: '12', isub: 'x' } });
    for (const bad of ['tel:', 'tel:+', 'tel:abc g', 'tel:+12;', 'sip:+12@example.com']) assert.equal(parseTelUri(bad), null, bad);
  });

  test('uri - uriScheme names any absolute URI scheme, lower-cased', () => {
    assert.equal(uriScheme('SIPS:bob@example.com'), 'sips');
    assert.equal(uriScheme('soap.beep://192.0.2.103:3002'), 'soap.beep');
    assert.equal(uriScheme('nobodyKnowsThisScheme:totallyopaquecontent'), 'nobodyknowsthisscheme');
    assert.equal(uriScheme('<sip:bob@example.com>'), null);
    assert.equal(uriScheme('1sip:x'), null);
    assert.equal(uriScheme('bob'), null);
  });
});
