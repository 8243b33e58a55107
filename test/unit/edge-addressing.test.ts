/**
 * The pure parts of addressing at the edge, without sockets: rport/received stamping, `.invalid` Contact
 * rewriting, Record-Route URIs per transport (RFC 7118 for WebSocket), the transport a URI asks for, and the
 * address advertised to a peer by localnets.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fixInvalidContact, recordRouteUri, stampReceived } from '../../core/edge/alterations.js';
import { EdgeIdentity, uriTransport } from '../../core/edge/identity.js';
import { resolveUri } from '../../core/edge/nexthop.js';
import { parseMessage, parseUri } from '../../core/sip/index.js';
import type { SipRequest, SipResponse } from '../../core/sip/types.js';

function request(via: string, contact = '<sip:alice@127.0.0.1:5070>'): SipRequest {
  const text = `REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/${via}\r\nFrom: <sip:alice@example.com>;tag=1\r\nTo: <sip:alice@example.com>\r\nCall-ID: a\r\nCSeq: 1 REGISTER\r\nContact: ${contact}\r\nContent-Length: 0\r\n\r\n`;
  const parsed = parseMessage(Buffer.from(text), { datagram: true });
  assert.ok(parsed.ok);
  return parsed.message as SipRequest;
}

test('rport - with rport: received and rport are always set (RFC 3581 4)', () => {
  const r = request('UDP 10.0.0.5:5060;branch=z9hG4bK1;rport');
  stampReceived(r, { host: '10.0.0.5', port: 40000, transport: 'udp' });
  assert.deepEqual(r.headers.via[0].params, { branch: 'z9hG4bK1', rport: '40000', received: '10.0.0.5' });
});

test('rport - without rport: received only when the sent-by host differs (RFC 3261 18.2.1)', () => {
  const same = request('UDP 10.0.0.5:5060;branch=z9hG4bK1');
  stampReceived(same, { host: '10.0.0.5', port: 5060, transport: 'udp' });
  assert.deepEqual(same.headers.via[0].params, { branch: 'z9hG4bK1' });
  const natted = request('UDP 192.168.1.20:5060;branch=z9hG4bK1');
  stampReceived(natted, { host: '198.51.100.7', port: 31000, transport: 'udp' });
  assert.deepEqual(natted.headers.via[0].params, { branch: 'z9hG4bK1', received: '198.51.100.7' });
});

test('rport - a Via host that is a name always gets received', () => {
  const r = request('TCP client.example.com;branch=z9hG4bK1');
  stampReceived(r, { host: '198.51.100.7', port: 31000, transport: 'tcp' });
  assert.equal(r.headers.via[0].params.received, '198.51.100.7');
});

test('invalid contact - a .invalid host becomes the flow address with transport=ws or wss', () => {
  const r = request('WSS df7jal23ls0d.invalid;branch=z9hG4bK1', '"Alice" <sip:alice@df7jal23ls0d.invalid;transport=ws;ob>;expires=300');
  assert.equal(fixInvalidContact(r, { host: '198.51.100.7', port: 50123, transport: 'wss' }), true);
  const contact = (r.headers.contact as Array<{ name?: string; uri: string; params: Record<string, string | null> }>)[0];
  assert.equal(contact.uri, 'sip:alice@198.51.100.7:50123;transport=wss;ob');
  assert.equal(contact.name, 'Alice');
  assert.deepEqual(contact.params, { expires: '300' });
  const v6 = request('WS x.invalid;branch=z9hG4bK1', '<sip:bob@x.invalid;transport=ws>');
  fixInvalidContact(v6, { host: '2001:db8::7', port: 443, transport: 'ws' });
  assert.equal((v6.headers.contact as Array<{ uri: string }>)[0].uri, 'sip:bob@[2001:db8::7]:443;transport=ws');
});

test('invalid contact - other contacts, a star and responses without Contact are left alone', () => {
  const normal = request('WS a.invalid;branch=z9hG4bK1', '<sip:alice@203.0.113.9:5060>');
  assert.equal(fixInvalidContact(normal, { host: '198.51.100.7', port: 1, transport: 'ws' }), false);
  assert.equal((normal.headers.contact as Array<{ uri: string }>)[0].uri, 'sip:alice@203.0.113.9:5060');
  const star = request('WS a.invalid;branch=z9hG4bK1', '*');
  assert.equal(fixInvalidContact(star, { host: '198.51.100.7', port: 1, transport: 'ws' }), false);
  const response = { status: 200, reason: 'OK', version: '2.0', headers: { ...star.headers, contact: undefined }, content: '' } as SipResponse;
  assert.equal(fixInvalidContact(response, { host: '198.51.100.7', port: 1, transport: 'ws' }), false);
});

test('record-route - one URI form per transport; WSS is sips with transport=ws (RFC 7118 5.2)', () => {
  const uri = (transport: 'udp' | 'tcp' | 'tls' | 'ws' | 'wss', host = '192.0.2.1') => recordRouteUri(host, { host: '0.0.0.0', port: 5062, transport });
  assert.equal(uri('udp'), 'sip:192.0.2.1:5062;lr');
  assert.equal(uri('tcp'), 'sip:192.0.2.1:5062;transport=tcp;lr');
  assert.equal(uri('tls'), 'sips:192.0.2.1:5062;transport=tls;lr');
  assert.equal(uri('ws'), 'sip:192.0.2.1:5062;transport=ws;lr');
  assert.equal(uri('wss'), 'sips:192.0.2.1:5062;transport=ws;lr');
  assert.equal(uri('udp', '2001:db8::1'), 'sip:[2001:db8::1]:5062;lr');
});

test('uri transport - sips+ws is WSS, transport=wss is read too, sips alone is TLS', async () => {
  const of = (s: string) => uriTransport(parseUri(s)!);
  assert.equal(of('sip:a@h'), 'udp');
  assert.equal(of('sips:a@h'), 'tls');
  assert.equal(of('sip:a@h;transport=WS'), 'ws');
  assert.equal(of('sips:a@h;transport=ws'), 'wss');
  assert.equal(of('sip:a@h;transport=wss'), 'wss');
  assert.deepEqual(await resolveUri('sips:127.0.0.1:8443;transport=ws;lr'), { host: '127.0.0.1', port: 8443, transport: 'wss' });
  const named = await resolveUri('sip:localhost:5061;transport=tls');
  assert.deepEqual({ ...named, host: undefined }, { host: undefined, port: 5061, transport: 'tls', serverName: 'localhost' }, 'the name is kept for SNI');
});

test('identity - our own WSS Record-Route is recognised as ours', () => {
  const identity = new EdgeIdentity({ listeningPoints: [{ host: '192.0.2.1', port: 8443, transport: 'wss' }] });
  assert.equal(identity.isOwnUri('sips:192.0.2.1:8443;transport=ws;lr'), true);
  assert.equal(identity.isOwnUri('sips:192.0.2.1:8444;transport=ws;lr'), false);
});

test('identity - advertisedAddrs for peers outside localnets, the bound address inside them', () => {
  const identity = new EdgeIdentity({
    listeningPoints: [{ host: '10.0.0.2', port: 5060, transport: 'udp' }],
    advertisedAddrs: ['203.0.113.10', 'sip.example.com'],
    localnets: ['10.0.0.0/8', '192.168.1.9', 'fd00::/8'],
  });
  const lp = identity.listeningPoints[0];
  assert.equal(identity.advertisedHost(lp, '198.51.100.7'), '203.0.113.10', 'outside: the first advertised address');
  assert.equal(identity.advertisedHost(lp, '10.20.30.40'), '10.0.0.2', 'in a localnet CIDR: the bound address');
  assert.equal(identity.advertisedHost(lp, '192.168.1.9'), '10.0.0.2', 'a single localnet address');
  assert.equal(identity.advertisedHost(lp, '192.168.1.10'), '203.0.113.10');
  assert.equal(identity.advertisedHost(lp, 'fd00::5'), '10.0.0.2');
  assert.equal(identity.advertisedHost(lp, 'pbx.example.com'), '203.0.113.10', 'a name is never local');
  assert.equal(identity.isOwnHost('sip.example.com'), true);
  const noNat = new EdgeIdentity({ listeningPoints: [lp] });
  assert.equal(noNat.advertisedHost(lp, '198.51.100.7'), '10.0.0.2', 'no advertisedAddrs: the bound address');
});
