/**
 * Routr v1's general configuration, run: each v1 property that maps onto a behaviour is shown doing it on a
 * running routr started from a v1 config file (the conversion itself is test/unit/config-v1.test.ts):
 * userAgent as Server on routr's answers and User-Agent on the CANCEL it writes, recordRoute true/false,
 * useToAsAOR, addressInfo, registrarIntf Internal/External, traceLevel (a trace with Authorization redacted),
 * restService and securityContext over PKCS#12 keystores (HTTPS, TLS), and the refusals that stop a start
 * (sctp, a JKS keystore) as the CLI prints them.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { dump } from 'js-yaml';
import { readServerConfigFile } from '../../core/config/file.js';
import { checkServerDocument } from '../../core/config/server.js';
import { createLogger } from '../../core/log.js';
import { RoutrServer } from '../../core/server.js';
import type { SipRequest, SipResponse } from '../../core/sip/types.js';
import { devCertificate, routrCli } from '../helpers/certs.js';
import { contactOf, nextRequest, SipClient } from '../helpers/connect.js';
import { freeSipPort, freeTcpPort } from '../helpers/routr.js';
import { TestUA } from '../helpers/ua.js';

const DOMAIN = 'sip.local';
const TRUNK_HOST = 'trunk.test';
const NUMBER = '+19103434434';
const dir = mkdtempSync(join(tmpdir(), 'routr-v1-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function resources(carrierPort: number): string {
  return `
- { apiVersion: v2beta1, kind: Domain, ref: domain-01, spec: { context: { domainUri: ${DOMAIN}, egressPolicies: [{ rule: "^\\\\+?[0-9]{7,15}$", numberRef: number-01 }] } } }
- { apiVersion: v2beta1, kind: Credentials, ref: c1001, spec: { credentials: { username: "1001", password: "pw-1001" } } }
- { apiVersion: v2beta1, kind: Credentials, ref: c1002, spec: { credentials: { username: "1002", password: "pw-1002" } } }
- { apiVersion: v2beta1, kind: Agent, ref: a1001, spec: { username: "1001", domainRef: domain-01, credentialsRef: c1001 } }
- { apiVersion: v2beta1, kind: Agent, ref: a1002, spec: { username: "1002", domainRef: domain-01, credentialsRef: c1002 } }
- { apiVersion: v2beta1, kind: Trunk, ref: trunk-01, spec: { inbound: { uri: ${TRUNK_HOST} }, outbound: { uris: [{ uri: { host: 127.0.0.1, port: ${carrierPort}, transport: udp } }] } } }
- { apiVersion: v2beta1, kind: Number, ref: number-01, spec: { trunkRef: trunk-01, location: { telUrl: "tel:${NUMBER}", aorLink: "sip:1001@${DOMAIN}" } } }
`;
}

interface V1Routr {
  server: RoutrServer;
  sipPort: number;
  httpPort: number;
  warnings: string[];
  logs: string[];
  stop(): Promise<void>;
}

let started = 0;

/** Write a v1 config (with free ports and the test resources) and start routr from it, as `routr start --config` does. */
async function startV1(spec: Record<string, unknown>, options: { metadata?: Record<string, unknown>; carrierPort?: number; transports?: Array<Record<string, unknown>> } = {}): Promise<V1Routr> {
  const sipPort = await freeSipPort();
  const httpPort = await freeTcpPort();
  const base = join(dir, `run-${++started}`);
  rmSync(base, { recursive: true, force: true });
  const resourcesDir = join(base, 'resources');
  mkdirSync(resourcesDir, { recursive: true });
  writeFileSync(join(resourcesDir, 'resources.yaml'), resources(options.carrierPort ?? 9));
  const v1 = {
    apiVersion: 'v1beta1',
    metadata: { userAgent: 'Routr v1.0', ...(options.metadata ?? {}) },
    spec: {
      bindAddr: '127.0.0.1',
      transport: options.transports ?? [{ protocol: 'udp', port: sipPort }, { protocol: 'tcp', port: sipPort }],
      restService: { bindAddr: '127.0.0.1', port: httpPort, unsecured: true },
      dataSource: { provider: 'files_data_provider', parameters: { path: 'resources' } },
      ...spec,
    },
  };
  const file = join(base, 'config.yaml');
  writeFileSync(file, dump(v1));
  const { config, warnings } = readServerConfigFile(file);
  const logs: string[] = [];
  const destination = new Writable({ write: (chunk, _enc, done) => (logs.push(String(chunk)), done()) });
  const server = new RoutrServer({ config, logger: createLogger({ level: config.spec.logging.level === 'trace' ? 'trace' : 'silent', destination }) });
  await server.start();
  return { server, sipPort, httpPort, warnings, logs, stop: () => server.stop() };
}

function answer(ua: TestUA, request: SipRequest, status = 200): SipResponse {
  return ua.reply(request, status, { toTag: `callee-${Math.random().toString(36).slice(2, 8)}`, headers: status < 300 ? { Contact: `<${contactOf(ua, 'callee')}>` } : {} });
}

async function register(client: SipClient, ua: TestUA, user: string, contact = contactOf(ua, user)) {
  return client.authenticated({ method: 'REGISTER', uri: `sip:${DOMAIN}`, from: `sip:${user}@${DOMAIN}`, to: `sip:${user}@${DOMAIN}`, contact: `<${contact}>`, headers: ['Expires: 600'] }, { username: user, password: `pw-${user}` });
}

let calls = 0;
const callId = (name: string) => `${name}-${++calls}-${process.pid}@v1.test`;

describe('v1 config - run', () => {
  describe('userAgent, recordRoute true, traceLevel', () => {
    let routr: V1Routr;
    const ua: Record<string, TestUA> = {};
    const client: Record<string, SipClient> = {};
    before(async () => {
      for (const name of ['a1001', 'a1002']) ua[name] = await TestUA.udp();
      routr = await startV1({ recordRoute: true, logging: { traceLevel: 10 } });
      for (const [name, u] of Object.entries(ua)) client[name] = new SipClient(u, { host: '127.0.0.1', port: routr.sipPort });
      for (const [name, user] of [['a1001', '1001'], ['a1002', '1002']]) assert.equal((await register(client[name], ua[name], user)).final.status, 200);
    });
    after(async () => {
      await Promise.all(Object.values(ua).map((u) => u.close()));
      await routr?.stop();
    });

    test('v1 config - userAgent: the 200 OK to REGISTER, the 401 and OPTIONS answers carry Server: Routr v1.0', async () => {
      const { challenge, final } = await register(client.a1001, ua.a1001, '1001');
      assert.equal(challenge?.headers.server, 'Routr v1.0');
      assert.equal(final.status, 200);
      assert.equal(final.headers.server, 'Routr v1.0');
      const options = await client.a1001.send({ method: 'OPTIONS', uri: `sip:127.0.0.1:${routr.sipPort}`, from: `sip:1001@${DOMAIN}`, callId: callId('options'), cseq: 1 });
      assert.equal(options.headers.server, 'Routr v1.0');
      assert.ok(routr.warnings.some((w) => w.includes('/metadata/userAgent')), 'the mapping was announced');
    });

    test('v1 config - userAgent: the CANCEL routr writes downstream carries User-Agent: Routr v1.0', async () => {
      const id = callId('cancel');
      const call = client.a1001.authenticated({ method: 'INVITE', uri: `sip:1002@${DOMAIN}`, from: `sip:1001@${DOMAIN}`, callId: id }, { username: '1001', password: 'pw-1001' });
      const invite = await nextRequest(ua.a1002, 'INVITE', id);
      ua.a1002.reply(invite, 180, { toTag: 'ringing' });
      await ua.a1001.waitFor((m) => !('method' in m) && m.status === 180 && m.headers['call-id'] === id);
      const inviteVia = invite.headers.via.at(-1)!;
      const cseq = invite.headers.cseq.seq;
      const cancel = [`CANCEL sip:1002@${DOMAIN} SIP/2.0`, `Via: SIP/2.0/UDP ${inviteVia.host}:${inviteVia.port};branch=${inviteVia.params.branch};rport`, 'Max-Forwards: 70', `From: <sip:1001@${DOMAIN}>;tag=${invite.headers.from.params.tag}`, `To: <sip:1002@${DOMAIN}>`, `Call-ID: ${id}`, `CSeq: ${cseq} CANCEL`, 'Content-Length: 0', '', ''].join('\r\n');
      ua.a1001.send(cancel, { host: '127.0.0.1', port: routr.sipPort });
      const downstream = await nextRequest(ua.a1002, 'CANCEL', id);
      assert.equal(downstream.headers['user-agent'], 'Routr v1.0');
      ua.a1002.reply(downstream, 200);
      ua.a1002.reply(invite, 487, { toTag: 'ringing' });
      assert.equal((await call).final.status, 487);
    });

    test('v1 config - recordRoute: true puts routr in the path of every dialog', async () => {
      const id = callId('rr');
      const call = client.a1001.authenticated({ method: 'INVITE', uri: `sip:1002@${DOMAIN}`, from: `sip:1001@${DOMAIN}`, callId: id }, { username: '1001', password: 'pw-1001' });
      const invite = await nextRequest(ua.a1002, 'INVITE', id);
      assert.ok(invite.headers['record-route']?.length, 'record-routed');
      answer(ua.a1002, invite);
      assert.equal((await call).final.status, 200);
    });

    test('v1 config - traceLevel: every SIP message in and out is logged at trace level, Authorization redacted', () => {
      const traces = routr.logs.filter((l) => l.includes('"msg":"sip in"') || l.includes('"msg":"sip out"'));
      assert.ok(traces.some((l) => l.includes('"direction":"in"') && l.includes('REGISTER sip:sip.local')), 'inbound REGISTER traced');
      assert.ok(traces.some((l) => l.includes('"direction":"out"') && l.includes('SIP/2.0 200 OK')), 'outbound 200 traced');
      // The scheme, username and realm stay (what a 401 is debugged with); everything else of the value goes.
      const withAuth = traces.filter((l) => /Authorization: Digest [^[]*\[redacted\]/i.test(l));
      assert.ok(withAuth.length > 0, 'the authenticated REGISTER is traced');
      assert.ok(!traces.some((l) => /response=/.test(l)), 'no digest response in any trace line');
    });
  });

  describe('recordRoute false, useToAsAOR, addressInfo, registrarIntf External', () => {
    let routr: V1Routr;
    const ua: Record<string, TestUA> = {};
    const client: Record<string, SipClient> = {};
    before(async () => {
      for (const name of ['a1001', 'a1002', 'contact1002', 'carrier']) ua[name] = await TestUA.udp();
      routr = await startV1({ recordRoute: false, useToAsAOR: true, addressInfo: ['X-DID'], registrarIntf: 'External' }, { carrierPort: ua.carrier.port });
      for (const [name, u] of Object.entries(ua)) client[name] = new SipClient(u, { host: '127.0.0.1', port: routr.sipPort });
      assert.equal((await register(client.a1001, ua.a1001, '1001')).final.status, 200);
      // 1002 registers from one socket a Contact on another: External reaches the Contact as written.
      assert.equal((await register(client.a1002, ua.a1002, '1002', contactOf(ua.contact1002, '1002'))).final.status, 200);
    });
    after(async () => {
      await Promise.all(Object.values(ua).map((u) => u.close()));
      await routr?.stop();
    });

    test('v1 config - recordRoute: false leaves routr out of the dialog; registrarIntf External reaches the Contact as written', async () => {
      const id = callId('norr');
      const call = client.a1001.authenticated({ method: 'INVITE', uri: `sip:1002@${DOMAIN}`, from: `sip:1001@${DOMAIN}`, callId: id }, { username: '1001', password: 'pw-1001' });
      const invite = await nextRequest(ua.contact1002, 'INVITE', id);
      assert.equal(invite.headers['record-route'], undefined);
      answer(ua.contact1002, invite);
      assert.equal((await call).final.status, 200);
      assert.equal(ua.a1002.received.filter((r) => 'method' in r.message && r.message.method === 'INVITE').length, 0, 'not at the REGISTER source');
    });

    test('v1 config - useToAsAOR: the callee is the To, whatever the Request-URI names', async () => {
      const id = callId('to');
      const call = client.a1001.authenticated({ method: 'INVITE', uri: `sip:somewhere@127.0.0.1:${routr.sipPort}`, to: `sip:1002@${DOMAIN}`, from: `sip:1001@${DOMAIN}`, callId: id }, { username: '1001', password: 'pw-1001' });
      const invite = await nextRequest(ua.contact1002, 'INVITE', id);
      answer(ua.contact1002, invite);
      assert.equal((await call).final.status, 200);
    });

    test('v1 config - addressInfo: a carrier call names the DID in X-DID, not in the Request-URI', async () => {
      const id = callId('did');
      const call = client.carrier.send({ method: 'INVITE', uri: `sip:gateway@${TRUNK_HOST}`, to: `sip:gateway@${TRUNK_HOST}`, from: 'sip:+15550001111@carrier.test', callId: id, cseq: 1, headers: [`X-DID: ${NUMBER}`] });
      const invite = await nextRequest(ua.a1001, 'INVITE', id);
      assert.equal(invite.headers['x-call-direction'], 'from-pstn');
      answer(ua.a1001, invite);
      assert.equal((await call).status, 200);
    });
  });

  describe('registrarIntf Internal', () => {
    test('v1 config - registrarIntf Internal reaches the REGISTER source (received/rport), not the Contact', async () => {
      const ua = { a1001: await TestUA.udp(), a1002: await TestUA.udp(), elsewhere: await TestUA.udp() };
      const routr = await startV1({ registrarIntf: 'Internal' });
      try {
        const client = { a1001: new SipClient(ua.a1001, { host: '127.0.0.1', port: routr.sipPort }), a1002: new SipClient(ua.a1002, { host: '127.0.0.1', port: routr.sipPort }) };
        assert.equal((await register(client.a1001, ua.a1001, '1001')).final.status, 200);
        assert.equal((await register(client.a1002, ua.a1002, '1002', contactOf(ua.elsewhere, '1002'))).final.status, 200);
        const id = callId('internal');
        const call = client.a1001.authenticated({ method: 'INVITE', uri: `sip:1002@${DOMAIN}`, from: `sip:1001@${DOMAIN}`, callId: id }, { username: '1001', password: 'pw-1001' });
        const invite = await nextRequest(ua.a1002, 'INVITE', id);
        answer(ua.a1002, invite);
        assert.equal((await call).final.status, 200);
      } finally {
        await Promise.all(Object.values(ua).map((u) => u.close()));
        await routr.stop();
      }
    });
  });

  describe('keystores', () => {
    let p12: string;
    before(() => {
      const cert = devCertificate();
      p12 = join(dir, 'routr.p12');
      const made = spawnSync('openssl', ['pkcs12', '-export', '-in', cert.certPath, '-inkey', cert.keyPath, '-out', p12, '-passout', 'pass:changeit'], { encoding: 'utf8' });
      assert.equal(made.status, 0, made.stderr);
    });

    test('v1 config - restService with a PKCS#12 keyStore serves HTTPS; securityContext gives the TLS transport its certificate', async () => {
      const tlsPort = await freeTcpPort();
      const httpPort = await freeTcpPort();
      const sipPort = await freeSipPort();
      const routr = await startV1(
        { restService: { bindAddr: '127.0.0.1', port: httpPort, keyStore: p12, keyStorePassword: 'changeit' }, securityContext: { keyStore: p12, keyStorePassword: 'changeit', keyStoreType: 'PKCS12', client: { authType: 'DisabledAll', protocols: ['TLSv1.2'] } } },
        { transports: [{ protocol: 'udp', port: sipPort }, { protocol: 'tls', port: tlsPort }] },
      );
      try {
        const status = await new Promise<number>((resolve, reject) => {
          https.get({ host: '127.0.0.1', port: httpPort, path: '/healthz', ca: devCertificate().cert }, (res) => (res.resume(), resolve(res.statusCode ?? 0))).on('error', reject);
        });
        assert.equal(status, 200);
        const ua = await TestUA.tls({ host: '127.0.0.1', port: tlsPort }, { ca: devCertificate().cert });
        try {
          const client = new SipClient(ua, { host: '127.0.0.1', port: tlsPort });
          const answer = await client.send({ method: 'OPTIONS', uri: `sip:127.0.0.1:${tlsPort};transport=tls`, from: `sip:1001@${DOMAIN}`, callId: callId('tls'), cseq: 1 });
          assert.equal(answer.status, 200);
          assert.equal(answer.headers.server, 'Routr v1.0');
        } finally {
          await ua.close();
        }
      } finally {
        await routr.stop();
      }
    });

    test('v1 config - a wrong keystore password stops the HTTPS server from starting, saying so', async () => {
      await assert.rejects(startV1({ restService: { bindAddr: '127.0.0.1', port: await freeTcpPort(), keyStore: p12, keyStorePassword: 'wrong' } }), /keystore file .*routr\.p12: .*wrong passphrase\?/);
    });
  });

  describe('accessControlList', () => {
    // The edge-level ACL is issue 11's (spec.edge.accessControlList); this runs as soon as the schema has it.
    const edgeAcl = checkServerDocument({ apiVersion: 'v2beta1', kind: 'Server', ref: 'r', spec: { edge: { accessControlList: { deny: [] } } } }).problems.length === 0;
    test('v1 config - accessControlList: a denied source gets nothing back (dropped before parsing); allow wins over deny', { skip: edgeAcl ? false : 'spec.edge.accessControlList (issue 11) is not on this branch yet' }, async () => {
      const routr = await startV1({ accessControlList: { deny: ['127.0.0.0/8'], allow: ['127.0.0.1/32'] } });
      const allowed = await TestUA.udp();
      const denied = await TestUA.udp(0, '127.0.0.2');
      try {
        const to = { host: '127.0.0.1', port: routr.sipPort };
        const ok = await new SipClient(allowed, to).send({ method: 'OPTIONS', uri: `sip:127.0.0.1:${routr.sipPort}`, from: `sip:1001@${DOMAIN}`, callId: callId('acl-ok'), cseq: 1 });
        assert.equal(ok.status, 200);
        await assert.rejects(new SipClient(denied, to).send({ method: 'OPTIONS', uri: `sip:127.0.0.1:${routr.sipPort}`, from: `sip:1001@${DOMAIN}`, callId: callId('acl-denied'), cseq: 1 }, 800), 'no answer to a denied source');
        assert.ok(routr.warnings.some((w) => w.includes('/spec/accessControlList')));
      } finally {
        await Promise.all([allowed.close(), denied.close()]);
        await routr.stop();
      }
    });
  });

  describe('a Routr v1 installation folder', () => {
    test('v1 config - config.yaml among v1 resource files (files_data_provider, default path): the config is skipped, the resources converted and served', async () => {
      const folder = join(dir, 'v1-install');
      mkdirSync(folder, { recursive: true });
      for (const f of ['agents.yaml', 'domains.yaml', 'peers.yaml', 'gateways.yaml', 'dids.yaml', 'users.yaml']) writeFileSync(join(folder, f), readFileSync(join('config', 'examples', 'v1', f)));
      const sipPort = await freeSipPort();
      const httpPort = await freeTcpPort();
      writeFileSync(join(folder, 'config.yaml'), dump({ apiVersion: 'v1beta1', metadata: { userAgent: 'Routr v1.0' }, spec: { bindAddr: '127.0.0.1', transport: [{ protocol: 'udp', port: sipPort }], restService: { bindAddr: '127.0.0.1', port: httpPort, unsecured: true } } }));
      const { config } = readServerConfigFile(join(folder, 'config.yaml'));
      const server = new RoutrServer({ config, logger: createLogger({ level: 'silent' }) });
      await server.start();
      const ua = await TestUA.udp();
      try {
        assert.equal(server.resources?.current().list('Agent').length, 2);
        const client = new SipClient(ua, { host: '127.0.0.1', port: sipPort });
        const peer = await client.authenticated({ method: 'REGISTER', uri: 'sip:astserver', from: 'sip:ast@astserver', to: 'sip:ast@astserver', contact: `<${contactOf(ua, 'ast')}>` }, { username: 'ast', password: 'astsecret' });
        assert.equal(peer.final.status, 200, "the v1 Peer registers with its v1 secret");
        assert.equal(peer.final.headers.server, 'Routr v1.0');
        const john = await client.authenticated({ method: 'REGISTER', uri: `sip:${DOMAIN}`, from: `sip:john@${DOMAIN}`, to: `sip:john@${DOMAIN}`, contact: `<${contactOf(ua, 'john')}>` }, { username: 'john', password: '1234' });
        assert.equal(john.final.status, 403, "the v1 Domain's own ACL (deny 0.0.0.0/1) refuses 127.0.0.1");
      } finally {
        await ua.close();
        await server.stop();
      }
    });
  });

  describe('refusals stop routr start', () => {
    const start = (v1: Record<string, unknown>) => {
      const file = join(dir, `refused-${++started}.yaml`);
      writeFileSync(file, dump(v1));
      return routrCli(['start', '--config', file]);
    };

    test('v1 config - an sctp transport: exit 1, naming the property and the reason', () => {
      const result = start({ apiVersion: 'v1beta1', spec: { transport: [{ protocol: 'sctp', port: 5060 }] } });
      assert.equal(result.status, 1);
      assert.match(result.stderr, /Routr v1 config \/spec\/transport\/0\/protocol: routr has no SCTP transport/);
    });

    test('v1 config - a JKS keystore: exit 1 with the keytool command that converts it', () => {
      const result = start({ apiVersion: 'v1beta1', spec: { transport: [{ protocol: 'tls', port: 5061 }], securityContext: { keyStore: 'etc/certs/domains-cert.jks', keyStorePassword: 'changeit', keyStoreType: 'jks' } } });
      assert.equal(result.status, 1);
      assert.match(result.stderr, /keytool -importkeystore -srckeystore etc\/certs\/domains-cert\.jks -srcstoretype JKS -destkeystore etc\/certs\/domains-cert\.p12 -deststoretype pkcs12/);
    });

    test('v1 config - routr config convert writes the Server document (mode 0600) and refuses what start refuses', () => {
      const v1 = join(dir, 'convert-v1.yaml');
      writeFileSync(v1, dump({ apiVersion: 'v1beta1', metadata: { userAgent: 'Routr v1.0' }, spec: { transport: [{ protocol: 'udp', port: 5060 }], dataSource: { provider: 'redis_data_provider' }, logging: { traceLevel: 10 } } }));
      const out = join(dir, 'converted-routr.yaml');
      const result = routrCli(['config', 'convert', v1, '-o', out]);
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stderr.split('\n').filter((l) => l.startsWith('warning: ')).length, 6);
      const text = readFileSync(out, 'utf8');
      assert.match(text, /kind: Server/);
      assert.match(text, /userAgent: Routr v1\.0/);
      assert.match(text, /provider: redis/);
      const refused = routrCli(['config', 'convert', join(dir, `refused-${started}.yaml`), '-o', join(dir, 'nope.yaml')]);
      assert.equal(refused.status, 1);
      assert.match(refused.stderr, /keytool -importkeystore/);
    });
  });
});
