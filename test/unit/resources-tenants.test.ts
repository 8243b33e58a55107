/**
 * Tenants in a resource set (core/resources/tenants.ts, checks.ts): references stay inside a tenant unless the
 * target is shared with it; a Number's aorLink names an Agent or Peer its tenant may reach; only Peers, Trunks
 * and ACLs are shared; Agent usernames are unique per tenant, Peer usernames, domain URIs, numbers and inbound
 * hosts across all; a clash with another tenant never names its resource or file; a tenant's apply is confined
 * to its own resources; the set finds an AOR's owner (its tenant) and Agents of one username in two tenants.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatProblem, mayReach, parseYaml, planApply, ResourceSet, tenantOf, validateDocuments, visibleTo } from '../../core/resources/index.js';

/** The base set: two tenants, a Trunk shared with every tenant, a Peer shared with acme only. */
const BASE = `
- { apiVersion: v2beta1, kind: Domain, ref: domain-acme, metadata: { tenant: acme }, spec: { context: { domainUri: acme.test, egressPolicies: [{ rule: "^\\\\+", numberRef: number-acme }] } } }
- { apiVersion: v2beta1, kind: Domain, ref: domain-globex, metadata: { tenant: globex }, spec: { context: { domainUri: globex.test } } }
- { apiVersion: v2beta1, kind: Agent, ref: acme-1001, metadata: { tenant: acme }, spec: { username: "1001", domainRef: domain-acme } }
- { apiVersion: v2beta1, kind: Agent, ref: globex-1001, metadata: { tenant: globex }, spec: { username: "1001", domainRef: domain-globex } }
- { apiVersion: v2beta1, kind: Trunk, ref: trunk-shared, metadata: { sharedWith: ["*"] }, spec: { outbound: { uris: [{ uri: { host: 127.0.0.1 } }] } } }
- { apiVersion: v2beta1, kind: Trunk, ref: trunk-acme, metadata: { tenant: acme }, spec: { inbound: { uri: carrier.acme.test } } }
- { apiVersion: v2beta1, kind: Number, ref: number-acme, metadata: { tenant: acme }, spec: { trunkRef: trunk-shared, location: { telUrl: "tel:+19100000001", aorLink: "sip:1001@acme.test" } } }
- { apiVersion: v2beta1, kind: Peer, ref: peer-ivr, metadata: { sharedWith: [acme] }, spec: { username: ivr, aor: "backend:ivr" } }
`;

function check(text: string) {
  return validateDocuments(parseYaml(text, { file: 'set.yaml' }).documents);
}

function problems(text: string): string[] {
  return check(BASE + text).problems.map(formatProblem);
}

describe('resources tenants - load-time checks', () => {
  test('resources tenants - a set with two tenants, a shared Trunk and a shared Peer is valid; one username in two tenants too', () => {
    const checked = check(BASE);
    assert.deepEqual(checked.problems.map(formatProblem), []);
    const set = new ResourceSet(checked.entries);
    assert.equal(set.find('Agent', { username: '1001' }).length, 2);
    assert.equal(set.find('Agent', { username: '1001', domainRef: 'domain-globex' })[0]?.ref, 'globex-1001');
    assert.equal(set.agentByUsername('1001', 'acme.test')?.ref, 'acme-1001');
    assert.equal(set.ownerOfAor('sip:1001@GLOBEX.test:5060;transport=tcp')?.ref, 'globex-1001');
    assert.equal(set.ownerOfAor('backend:ivr')?.ref, 'peer-ivr');
    assert.equal(set.ownerOfAor('sip:9@acme.test'), undefined);
    assert.equal(tenantOf(set.get('Agent', 'globex-1001')), 'globex');
    assert.ok(visibleTo('acme', set.get('Peer', 'peer-ivr')!) && !visibleTo('globex', set.get('Peer', 'peer-ivr')!));
    assert.ok(mayReach(set.get('Domain', 'domain-acme'), set.get('Peer', 'peer-ivr')));
    assert.ok(!mayReach(set.get('Domain', 'domain-globex'), set.get('Peer', 'peer-ivr')));
  });

  test('resources tenants - references across tenants are refused unless the target is shared', () => {
    assert.deepEqual(problems(`
- { apiVersion: v2beta1, kind: Agent, ref: globex-2001, metadata: { tenant: globex }, spec: { username: "2001", domainRef: domain-acme } }
- { apiVersion: v2beta1, kind: Number, ref: number-globex, metadata: { tenant: globex }, spec: { trunkRef: trunk-acme, location: { telUrl: "tel:+19100000002" } } }
- { apiVersion: v2beta1, kind: Number, ref: number-globex-2, metadata: { tenant: globex }, spec: { trunkRef: trunk-shared, location: { telUrl: "tel:+19100000003" } } }
- { apiVersion: v2beta1, kind: Domain, ref: domain-globex-2, metadata: { tenant: globex }, spec: { context: { domainUri: two.globex.test, egressPolicies: [{ rule: "^9", numberRef: number-acme }] } } }
`), [
      'set.yaml:11: Agent globex-2001 /spec/domainRef: Domain "domain-acme" is not of tenant "globex" and not shared with it',
      'set.yaml:12: Number number-globex /spec/trunkRef: Trunk "trunk-acme" is not of tenant "globex" and not shared with it (its owner can list this tenant in metadata.sharedWith)',
      'set.yaml:14: Domain domain-globex-2 /spec/context/egressPolicies/0/numberRef: Number "number-acme" is not of tenant "globex" and not shared with it',
    ]);
  });

  test('resources tenants - a Number sends calls only to an Agent or Peer its tenant may reach', () => {
    assert.deepEqual(problems(`
- { apiVersion: v2beta1, kind: Number, ref: number-globex, metadata: { tenant: globex }, spec: { trunkRef: trunk-shared, location: { telUrl: "tel:+19100000002", aorLink: "sip:1001@acme.test" } } }
- { apiVersion: v2beta1, kind: Number, ref: number-globex-ivr, metadata: { tenant: globex }, spec: { trunkRef: trunk-shared, location: { telUrl: "tel:+19100000003", aorLink: "backend:ivr" } } }
- { apiVersion: v2beta1, kind: Number, ref: number-acme-ivr, metadata: { tenant: acme }, spec: { trunkRef: trunk-shared, location: { telUrl: "tel:+19100000004", aorLink: "backend:ivr" } } }
- { apiVersion: v2beta1, kind: Number, ref: number-globex-own, metadata: { tenant: globex }, spec: { trunkRef: trunk-shared, location: { telUrl: "tel:+19100000005", aorLink: "sip:1001@globex.test" } } }
`), [
      'set.yaml:11: Number number-globex /spec/location/aorLink: aorLink "sip:1001@acme.test" names an Agent that is not of tenant "globex" and not shared with it',
      'set.yaml:12: Number number-globex-ivr /spec/location/aorLink: aorLink "backend:ivr" names a Peer that is not of tenant "globex" and not shared with it',
    ]);
  });

  test('resources tenants - only Peers, Trunks and ACLs are shared; clashes with another tenant name nothing of it', () => {
    assert.deepEqual(problems(`
- { apiVersion: v2beta1, kind: Domain, ref: domain-x, metadata: { tenant: globex, sharedWith: [acme] }, spec: { context: { domainUri: x.globex.test } } }
- { apiVersion: v2beta1, kind: Domain, ref: domain-copy, metadata: { tenant: globex }, spec: { context: { domainUri: ACME.test } } }
- { apiVersion: v2beta1, kind: Number, ref: number-copy, metadata: { tenant: globex }, spec: { trunkRef: trunk-shared, location: { telUrl: "tel:+1-910-000-0001" } } }
- { apiVersion: v2beta1, kind: Agent, ref: acme-1001, metadata: { tenant: globex }, spec: { username: "1009", domainRef: domain-globex } }
- { apiVersion: v2beta1, kind: Peer, ref: peer-1001, metadata: { tenant: globex }, spec: { username: "1001", aor: "backend:x" } }
- { apiVersion: v2beta1, kind: Agent, ref: acme-1001b, metadata: { tenant: acme }, spec: { username: "1001", domainRef: domain-acme } }
`), [
      'set.yaml:11: Domain domain-x /metadata/sharedWith: a Domain belongs to one tenant: only Peer, Trunk, AccessControlList can be shared',
      'set.yaml:12: Domain domain-copy /spec/context/domainUri: domainUri "ACME.test" is already used by a resource of another tenant',
      'set.yaml:13: Number number-copy /spec/location/telUrl: telUrl "tel:+1-910-000-0001" (tel:+19100000001) is already used by a resource of another tenant',
      'set.yaml:14: Agent acme-1001 /ref: duplicate ref "acme-1001": already used by a resource of another tenant',
      'set.yaml:15: Peer peer-1001 /spec/username: username "1001" is already used by a resource of another tenant',
      'set.yaml:16: Agent acme-1001b /spec/username: username "1001" is already used by Agent acme-1001 (set.yaml:4)',
    ]);
  });

  test('resources tenants - the schema takes tenant and sharedWith names only', () => {
    assert.deepEqual(problems(`
- { apiVersion: v2beta1, kind: Peer, ref: peer-bad, metadata: { tenant: "a b", sharedWith: ["", "*"] }, spec: { username: bad, aor: "backend:bad" } }
`).map((p) => p.replace(/: must .*/, '')), ['set.yaml:11: Peer peer-bad /metadata/tenant', 'set.yaml:11: Peer peer-bad /metadata/sharedWith/0']);
  });
});

describe('resources tenants - a tenant applies', () => {
  const stored = () => check(BASE).entries.map((e) => ({ id: `${e.resource.kind}/${e.resource.ref}`, document: { value: e.input ?? e.resource, source: e.source } }));
  const apply = (text: string, tenant?: string) => planApply(stored(), parseYaml(text, { file: '<request>' }).documents, tenant ? { tenant } : {});

  test('resources tenants - its own documents go through; another tenant\'s document, or a ref another tenant holds, are forbidden', () => {
    const ok = apply('{ apiVersion: v2beta1, kind: Agent, ref: globex-1002, metadata: { tenant: globex }, spec: { username: "1002", domainRef: domain-globex } }', 'globex');
    assert.ok(ok.ok, ok.problems.map(formatProblem).join('\n'));
    const other = apply('{ apiVersion: v2beta1, kind: Agent, ref: acme-1002, metadata: { tenant: acme }, spec: { username: "1002", domainRef: domain-acme } }', 'globex');
    assert.equal(other.failure, 'forbidden');
    assert.match(formatProblem(other.problems[0]), /metadata\/tenant: a principal of tenant "globex" applies resources of that tenant only/);
    const taken = apply('{ apiVersion: v2beta1, kind: Agent, ref: acme-1001, metadata: { tenant: globex }, spec: { username: "1009", domainRef: domain-globex } }', 'globex');
    assert.equal(taken.failure, 'forbidden');
    assert.match(formatProblem(taken.problems[0]), /ref "acme-1001" is taken by a resource of another tenant/);
    const shared = apply('{ apiVersion: v2beta1, kind: Trunk, ref: trunk-shared, metadata: { tenant: acme }, spec: { inbound: { uri: evil.test } } }', 'acme');
    assert.equal(shared.failure, 'forbidden', 'a tenant may not take over a Trunk shared with it');
    assert.ok(apply('{ apiVersion: v2beta1, kind: Agent, ref: acme-1001, metadata: { tenant: globex }, spec: { username: "1009", domainRef: domain-globex } }').failure === 'invalid', 'the operator moving a resource across tenants meets the set checks instead');
  });
});
