/**
 * Routr's own resource files load as Routr writes them: the v2beta1 directory in `config/examples/routr-v2`
 * (YAML lists, a JSON list, a one-document JSON file) with no warning, the draft directory with one warning per
 * document, the flat Credentials form with a warning, and what cannot be honoured (sctp, two spellings that
 * disagree) refused at the line it was written on. Plugins see one shape whichever spelling a file used.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { silentLogger } from '../../core/log.js';
import { packagePath } from '../../core/paths.js';
import { formatProblem, parseYaml, readResourcePath, resourcesCapability, ResourceSet, validateDocuments, type Credentials } from '../../core/resources/index.js';

const load = async (dir: string) => validateDocuments((await readResourcePath(packagePath('config', 'examples', dir))).documents);
const check = (text: string, file = 'r.yaml') => validateDocuments(parseYaml(text, { file }).documents);

describe('resources - Routr shapes', () => {
  test('Routr shapes - the v2beta1 directory loads with no warning, in the canonical shape', async () => {
    const loaded = await load('routr-v2');
    assert.deepEqual(loaded.problems.map(formatProblem), []);
    assert.deepEqual(loaded.warnings.map(formatProblem), []);
    const set = new ResourceSet(loaded.entries);
    assert.deepEqual(set.get('Credentials', 'credentials-01')?.spec, { credentials: { username: '1001', password: '1234' } });
    assert.equal(set.get('Agent', 'agent-01')?.spec.privacy, 'PRIVATE', 'Private is PRIVATE');
    assert.equal(set.get('Agent', 'agent-02')?.spec.privacy, 'NONE');
    const number = set.get('Number', 'number-01')!;
    assert.deepEqual(number.metadata, { name: '(910)343-4434', localFormat: '(910)343-4434', geoInfo: { city: 'Durham, NC', country: 'USA', countryISOCode: 'US' } });
    assert.equal(set.get('Number', 'number-02')?.metadata?.geoInfo?.countryISOCode, 'US');
    assert.deepEqual(set.get('Number', 'number-02')?.spec.location.extraHeaders, [{ name: 'X-Room-Id', value: 'room-42' }]);
    const trunk = set.get('Trunk', 'trunk-01')!;
    assert.equal(trunk.metadata?.region, 'us-east1');
    assert.deepEqual(trunk.spec.outbound?.uris.map((u) => u.uri), [{ user: 'carrier', host: '127.0.0.1', port: 5070, transport: 'udp' }, { host: '127.0.0.1', port: 5071, transport: 'tcp' }]);
    assert.deepEqual(set.get('Peer', 'peer-01')?.spec.loadBalancing, { withSessionAffinity: true, algorithm: 'least-sessions' });
    assert.equal(set.domainByUri('sip.local')?.spec.accessControlListRef, 'acl-01');
  });

  test('Routr shapes - the v2draft1 directory loads, each document with one warning naming what was read', async () => {
    const loaded = await load('routr-v2draft1');
    assert.deepEqual(loaded.problems.map(formatProblem), []);
    assert.equal(loaded.warnings.length, 8, loaded.warnings.map(formatProblem).join('\n'));
    const set = new ResourceSet(loaded.entries);
    assert.equal(set.get('Agent', 'ag2c77f4')?.spec.credentialsRef, 'crd2c76ft');
    assert.equal(set.get('Agent', 'ag2c77f4')?.metadata && 'dependsOn' in set.get('Agent', 'ag2c77f4')!.metadata!, false);
    const domain = set.get('Domain', 'dm2c76ft')!;
    assert.equal(domain.spec.accessControlListRef, 'acl2c77f4');
    assert.deepEqual(domain.spec.context.egressPolicies, [{ rule: '.*', numberRef: 'nbxt67rx' }]);
    const location = set.get('Number', 'nbxt67rx')!.spec.location;
    assert.equal(location.sessionAffinityHeader, 'x-room-id');
    assert.deepEqual(location.extraHeaders, [{ name: 'x-room-id', value: 'room-42' }]);
    assert.equal(set.get('Peer', 'prxt67rx')?.spec.username, 'conference');
    assert.deepEqual(set.get('Trunk', 'tk6t67r1')?.spec.outbound?.uris[0].uri, { host: '127.0.0.1', port: 5070, transport: 'udp' });
    const domainWarning = loaded.warnings.find((w) => w.ref === 'dm2c76ft')!;
    assert.match(formatProblem(domainWarning), /resources\.json:\d+: Domain dm2c76ft read from Routr's shapes: apiVersion v2draft1 .*metadata\.ref read as ref.*egressPolicy \(draft\) read as egressPolicies/);
  });

  test('Routr shapes - the flat Credentials form still loads, nested, with a warning', () => {
    const checked = check('apiVersion: v2beta1\nkind: Credentials\nref: c1\nspec:\n  username: "1001"\n  password: "1234"\n');
    assert.deepEqual(checked.problems, []);
    assert.deepEqual(checked.entries[0].resource.spec, { credentials: { username: '1001', password: '1234' } });
    assert.match(formatProblem(checked.warnings[0]), /^r\.yaml:1: Credentials c1 read from Routr's shapes: flat spec\.username\/spec\.password read as spec\.credentials/);
  });

  test('Routr shapes - a schema problem in a moved field points at the line it was written on', () => {
    const checked = check('apiVersion: v2beta1\nkind: Credentials\nref: c1\nspec:\n  username: "bad user"\n  password: "1234"\n');
    assert.deepEqual(checked.problems.map(formatProblem), ['r.yaml:5: Credentials c1 /spec/credentials/username: must not contain whitespace or double quotes']);
    const draft = check('- apiVersion: v2draft1\n  kind: Peer\n  metadata:\n    ref: "bad ref"\n  spec: { aor: "backend:x" }\n');
    assert.deepEqual(draft.problems.map(formatProblem), [`r.yaml:4: Peer bad ref /ref: must be a ref: letters, digits, '.', '_' or '-', starting with a letter or digit, at most 128 characters`]);
  });

  test('Routr shapes - what cannot be honoured is refused with the reason', () => {
    const checked = check(`- apiVersion: v2beta1
  kind: Credentials
  ref: c1
  spec: { username: a, credentials: { username: a, password: b } }
- apiVersion: v2beta1
  kind: Trunk
  ref: t1
  spec:
    outbound:
      uris:
        - uri: { host: carrier.example, port: 5060, transport: SCTP }
- apiVersion: v2draft1
  kind: AccessControlList
  ref: acl-1
  metadata: { ref: acl-2 }
  spec: { accessControlList: { allow: [10.0.0.0/8] } }
- apiVersion: v2beta1
  kind: Number
  ref: n1
  metadata: { geoInfo: { countryIsoCode: US, countryISOCode: CA } }
  spec: { trunkRef: t1, location: { telUrl: "tel:+15551234567" } }
- apiVersion: v2draft1
  kind: Trunk
  ref: t2
  spec: { outbound: { uris: [{ uri: "http://carrier.example" }] } }
`);
    assert.deepEqual(checked.problems.map(formatProblem), [
      'r.yaml:4: Credentials c1 /spec: give spec.credentials.{username,password} or the flat spec.username/spec.password, not both',
      'r.yaml:11: Trunk t1 /spec/outbound/uris/0/uri/transport: routr has no SCTP transport (Node.js has no SCTP sockets): use udp, tcp or tls',
      'r.yaml:15: AccessControlList acl-1 /metadata/ref: metadata.ref "acl-2" differs from ref "acl-1": keep one',
      'r.yaml:20: Number n1 /metadata/geoInfo/countryIsoCode: differs from countryISOCode "CA": keep one',
      'r.yaml:25: Trunk t2 /spec/outbound/uris/0/uri: "http://carrier.example" is not a SIP URI (sip:[user@]host[:port][;transport=udp|tcp|tls|ws|wss]); write uri: {host, port, transport, user}',
    ]);
  });

  test('Routr shapes - lower-case kinds, apiVersion v2 and ROUND_ROBIN are Routr spellings, read silently', () => {
    const checked = check(`- { apiVersion: v2, kind: credentials, ref: c1, spec: { credentials: { username: voice, password: x } } }
- { apiVersion: v2beta1, kind: peer, ref: p1, spec: { username: voice, aor: "backend:voice", credentialsRef: c1, loadBalancing: { algorithm: ROUND_ROBIN } } }
- { apiVersion: v2beta1, kind: accesscontrollist, ref: a1, spec: { accessControlList: { deny: [0.0.0.0/0] } } }
`);
    assert.deepEqual(checked.problems.map(formatProblem), []);
    assert.deepEqual(checked.warnings, []);
    assert.deepEqual(checked.entries.map((e) => `${e.resource.apiVersion} ${e.resource.kind}`), ['v2beta1 Credentials', 'v2beta1 Peer', 'v2beta1 AccessControlList']);
    assert.equal((checked.entries[1].resource as { spec: { loadBalancing: { algorithm: string } } }).spec.loadBalancing.algorithm, 'round-robin');
  });

  test('Routr shapes - plugins see one Credentials shape, without the password, whichever form the file used', () => {
    const flat = check('apiVersion: v2beta1\nkind: Credentials\nref: c1\nspec: { username: "1001", password: "1234" }\n');
    const nested = check('apiVersion: v2beta1\nkind: Credentials\nref: c2\nspec: { credentials: { username: "1002", password: "5678" } }\n');
    const set = new ResourceSet([...flat.entries, ...nested.entries]);
    const fns = resourcesCapability({ current: () => set }).build({ plugin: 'p', processor: 'p', logger: silentLogger() });
    assert.deepEqual(fns['resources.list'].fn('Credentials'), [
      { apiVersion: 'v2beta1', kind: 'Credentials', ref: 'c1', spec: { credentials: { username: '1001' } } },
      { apiVersion: 'v2beta1', kind: 'Credentials', ref: 'c2', spec: { credentials: { username: '1002' } } },
    ]);
    assert.equal((set.get('Credentials', 'c1') as Credentials).spec.credentials.password, '1234', 'host-side digest checks still have it');
  });
});
