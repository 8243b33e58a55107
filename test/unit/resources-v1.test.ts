/**
 * v1beta1 conversion details the examples do not show: Gateway host:port and sctp, Domains made for Agents,
 * Peers without a device, v1 Agents joining v2 Domains, and problems in converted resources naming their source.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { convertV1, formatProblem, parseYaml, validateDocuments } from '../../core/resources/index.js';

const v1 = (text: string) => parseYaml(text, { file: 'v1.yaml' }).documents;

test('resources v1 - Gateway becomes a Trunk: host:port split, sctp falls back to udp, registries dropped with a note, expires kept as the registration lifetime', () => {
  const conversion = convertV1(
    v1(`
- apiVersion: v1beta1
  kind: Gateway
  metadata: { name: Carrier, ref: GW1 }
  spec:
    host: sip.carrier.example:5080
    transport: sctp
    expires: 300
    registries: [reg.carrier.example]
`),
  );
  assert.deepEqual(conversion.problems, []);
  assert.deepEqual(conversion.documents.map((d) => d.value), [
    { apiVersion: 'v2beta1', kind: 'Trunk', ref: 'GW1', metadata: { name: 'Carrier' }, spec: { outbound: { sendRegister: false, uris: [{ uri: { host: 'sip.carrier.example', port: 5080, transport: 'udp' } }], expires: 300 } } },
  ]);
  assert.match(conversion.warnings[0].message, /transport sctp is not supported: udp used; registries dropped/);
});

test('resources v1 - an Agent whose domain has no Domain gets one made; a Peer without device gets a backend aor', () => {
  const conversion = convertV1(
    v1(`
- apiVersion: v1beta1
  kind: Agent
  metadata: { name: Ann }
  spec: { credentials: { username: ann, secret: x }, domains: [new.example] }
- apiVersion: v1beta1
  kind: Agent
  metadata: { name: Bob }
  spec: { credentials: { username: bob, secret: y }, domains: [new.example] }
- apiVersion: v1beta1
  kind: Peer
  metadata: { name: PBX }
  spec: { credentials: { username: pbx, secret: z } }
`),
  );
  const refs = conversion.documents.map((d) => `${(d.value as { kind: string }).kind} ${(d.value as { ref: string }).ref}`);
  assert.deepEqual(refs, ['Credentials agent-ann-credentials', 'Domain domain-new.example', 'Agent agent-ann', 'Credentials agent-bob-credentials', 'Agent agent-bob', 'Credentials peer-pbx-credentials', 'Peer peer-pbx']);
  assert.match(conversion.warnings[0].message, /no Domain with domainUri new\.example: Domain domain-new\.example created/);
  assert.match(conversion.warnings[2].message, /no device: aor set to backend:pbx/);
  const checked = validateDocuments(conversion.documents);
  assert.deepEqual(checked.problems.map(formatProblem), []);
});

test('resources v1 - a v1 Agent joins an existing v2 Domain by URI; problems in converted resources name the v1 source', () => {
  const checked = validateDocuments(
    v1(`
- apiVersion: v2beta1
  kind: Domain
  ref: my-domain
  spec: { context: { domainUri: SIP.local } }
- apiVersion: v1beta1
  kind: Agent
  metadata: { name: Cy }
  spec: { credentials: { username: "bad user", secret: x }, domains: [sip.local] }
`),
  );
  assert.deepEqual(checked.problems.map(formatProblem), [
    'v1.yaml:6: Credentials agent-bad-user-credentials /spec/credentials/username: must not contain whitespace or double quotes (in the v2beta1 conversion of v1beta1 Agent "Cy")',
    `v1.yaml:6: Agent agent-bad-user /spec/username: must be a SIP user part: 1 to 128 letters, digits or -_.!~*'()&=+$,;?/% (in the v2beta1 conversion of v1beta1 Agent "Cy")`,
  ]);
});
