/**
 * ResourceSet over the valid examples: the lookups SIP routing needs (by username, domain URI, tel: URL, trunk
 * host), find with semantic comparisons, ACL decisions, referrers, redaction and the content digest.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { packagePath } from '../../core/paths.js';
import { normaliseTelUrl, parseNetwork, readResourcePath, redact, ResourceSet, uriHost, validateDocuments } from '../../core/resources/index.js';

let set: ResourceSet;

before(async () => {
  const read = await readResourcePath(packagePath('config', 'examples', 'valid'));
  const checked = validateDocuments(read.documents);
  assert.ok(checked.ok);
  set = new ResourceSet(checked.entries);
});

describe('resources set - lookups', () => {
  test('resources set - get and list by kind, sorted by ref; schema defaults are filled', () => {
    assert.deepEqual(
      set.list('Agent').map((a) => a.ref),
      ['agent-01', 'agent-02', 'agent-03'],
    );
    const agent = set.get('Agent', 'agent-01')!;
    assert.equal(agent.spec.enabled, true);
    assert.equal(agent.spec.privacy, 'NONE');
    assert.equal(set.get('Agent', 'nope'), undefined);
    assert.equal(set.get('Domain', 'agent-01'), undefined, 'a ref of another kind is not found');
    assert.ok(Object.isFrozen(agent.spec));
  });

  test('resources set - Agent by username, optionally within a domain (case-insensitive)', () => {
    assert.equal(set.agentByUsername('1001')?.ref, 'agent-01');
    assert.equal(set.agentByUsername('1001', 'SIP.LOCAL')?.ref, 'agent-01');
    assert.equal(set.agentByUsername('1001', 'other.example'), undefined);
    assert.equal(set.agentByUsername('voice'), undefined, 'a Peer is not an Agent');
    assert.equal(set.peerByUsername('voice')?.ref, 'peer-01');
    assert.deepEqual(
      set.agentsInDomain('domain-01').map((a) => a.ref),
      ['agent-01', 'agent-02', 'agent-03'],
    );
  });

  test('resources set - Domain by URI, Number by tel: URL in any spelling, Trunk by host', () => {
    assert.equal(set.domainByUri('Sip.Local')?.ref, 'domain-01');
    for (const spelling of ['tel:+19103434434', '+19103434434', 'tel:+1-910-343-4434', 'TEL:+1 (910) 343.4434']) {
      assert.equal(set.numberByTelUrl(spelling)?.ref, 'number-01', spelling);
    }
    assert.equal(set.numberByTelUrl('19103434434'), undefined, 'a local number is not the global one');
    assert.equal(set.trunkByInboundHost('TRUNK-01.sip.local')?.ref, 'trunk-01');
    assert.deepEqual(
      set.trunksByOutboundHost('127.0.0.1').map((t) => t.ref),
      ['trunk-01'],
    );
  });

  test('resources set - find matches spec fields, dotted paths, ref and metadata', () => {
    assert.deepEqual(
      set.find('Agent', { username: '1002' }).map((a) => a.ref),
      ['agent-02'],
    );
    assert.deepEqual(
      set.find('Agent', { domainRef: 'domain-01', enabled: false }).map((a) => a.ref),
      ['agent-03'],
    );
    assert.deepEqual(
      set.find('Number', { 'location.telUrl': 'tel:+1-910-343-4434' }).map((n) => n.ref),
      ['number-01'],
    );
    assert.deepEqual(
      set.find('Domain', { 'context.domainUri': 'SIP.local' }).map((d) => d.ref),
      ['domain-01'],
    );
    assert.deepEqual(
      set.find('Peer', { 'loadBalancing.algorithm': 'least-sessions', 'metadata.name': 'Voice application server' }).map((p) => p.ref),
      ['peer-01'],
    );
    assert.deepEqual(set.find('Agent', { username: 'voice' }), [], 'the username index answers per kind');
    assert.deepEqual(set.find('Agent', { ref: 'agent-02', username: '1001' }), []);
  });

  test('resources set - ACLs: allow wins over deny, IPv4, IPv6, netmask notation, unknown list', () => {
    assert.equal(set.aclPermits('acl-01', '192.168.1.20'), true, 'netmask form');
    assert.equal(set.aclPermits('acl-01', '10.1.2.3'), true);
    assert.equal(set.aclPermits('acl-01', '8.8.8.8'), false);
    assert.equal(set.aclPermits('acl-01', '::1'), true);
    assert.equal(set.aclPermits('acl-01', '2001:db8::1'), false);
    assert.equal(set.aclPermits('acl-01', '::ffff:10.0.0.1'), true, 'IPv4-mapped IPv6 is the IPv4 address');
    assert.equal(set.aclPermits('acl-99', '10.0.0.1'), undefined);
  });

  test('resources set - referrers name who refers to a resource, and where', () => {
    assert.deepEqual(set.referrers('Number', 'number-01'), [{ from: { kind: 'Domain', ref: 'domain-01' }, path: '/spec/context/egressPolicies/0/numberRef', target: { kind: 'Number', ref: 'number-01' } }]);
    assert.deepEqual(
      set.referrers('AccessControlList', 'acl-01').map((r) => `${r.from.kind} ${r.from.ref}`),
      ['Domain domain-01', 'Peer peer-01', 'Trunk trunk-01'],
    );
    assert.deepEqual(set.referrers('Agent', 'agent-01'), []);
  });

  test('resources set - redact drops the password of Credentials and nothing else', () => {
    const creds = set.get('Credentials', 'credentials-01')!;
    assert.equal(creds.spec.credentials.password, '1234', 'host-side code sees it');
    const shown = redact(creds);
    assert.equal('password' in shown.spec.credentials, false);
    assert.equal(shown.spec.credentials.username, '1001');
    assert.equal(creds.spec.credentials.password, '1234', 'the set itself is untouched');
    const agent = set.get('Agent', 'agent-01')!;
    assert.equal(redact(agent), agent);
  });

  test('resources set - the digest depends on content, not on order or source', async () => {
    const read = await readResourcePath(packagePath('config', 'examples', 'valid'));
    const entries = validateDocuments(read.documents).entries;
    const reversed = new ResourceSet([...entries].reverse().map((e) => ({ ...e, source: {} })));
    assert.equal(reversed.digest, set.digest);
    assert.notEqual(new ResourceSet(entries.slice(1)).digest, set.digest);
  });
});

test('resources addresses - tel: URLs, URI hosts and networks', () => {
  assert.equal(normaliseTelUrl('tel:+1 (910) 343-4434'), 'tel:+19103434434');
  assert.equal(normaliseTelUrl('17066041487'), 'tel:17066041487');
  assert.equal(uriHost('sip:alice@Example.COM:5060;transport=tcp'), 'example.com');
  assert.equal(uriHost('trunk.example.com'), 'trunk.example.com');
  assert.equal(uriHost('sip:[2001:db8::1]:5060'), '[2001:db8::1]');
  assert.deepEqual(parseNetwork('192.168.0.0/255.255.0.0')[1], 16);
  assert.deepEqual(parseNetwork('fd00::/8')[1], 8);
  assert.deepEqual(parseNetwork('10.0.0.1')[1], 32);
  assert.throws(() => parseNetwork('10.0.0.0/33'), /not a valid CIDR/);
  assert.throws(() => parseNetwork('10.0.0.0/255.0.255.0'), /not a netmask/);
  assert.throws(() => parseNetwork('host.example.com'), /not an IPv4 or IPv6 address/);
});
