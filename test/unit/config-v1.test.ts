/**
 * Routr v1's general configuration, property by property as its reference lists them (the seed's table): each is
 * either mapped — the converted kind: Server document says to what, and one warning names it — or refused with
 * the reason. The seed's own example converts to a document that validates. Behaviour of the mapped targets
 * (Server header, Record-Route, To lookups, DID headers, NAT mode, trace, HTTPS, TLS) is tested where it runs:
 * test/integration/v1-config.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { checkServerDocument } from '../../core/config/server.js';
import { convertV1Config, isV1Config } from '../../core/config/v1.js';

const dir = mkdtempSync(join(tmpdir(), 'routr-config-v1-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const convert = (spec: Record<string, unknown>, metadata: Record<string, unknown> = {}) => convertV1Config({ apiVersion: 'v1beta1', metadata, spec }, { baseDir: dir });
type Doc = { spec: { edge: Record<string, unknown>; host: { processors: Array<{ config: Record<string, unknown> }> }; http?: Record<string, unknown>; logging?: Record<string, unknown>; resources: Record<string, unknown> } };
const docOf = (c: ReturnType<typeof convert>) => {
  assert.deepEqual(c.problems, [], 'no problems');
  return c.document as unknown as Doc;
};
const warningAt = (c: ReturnType<typeof convert>, path: string) => c.warnings.find((w) => w.path === path)?.message ?? '';
const problemAt = (c: ReturnType<typeof convert>, path: string) => c.problems.find((p) => p.path === path)?.message ?? '';
const connectConfig = (c: ReturnType<typeof convert>) => docOf(c).spec.host.processors[0].config;

describe('config v1', () => {
  test("config v1 - the seed's example converts to a Server that runs Connect, with one warning per property", () => {
    const c = convertV1Config({ apiVersion: 'v1beta1', metadata: { userAgent: 'Routr v1.0' }, spec: { transport: [{ protocol: 'udp', port: 5060 }], dataSource: { provider: 'redis_data_provider' }, logging: { traceLevel: 10 } } });
    const doc = docOf(c);
    assert.equal(doc.spec.edge.userAgent, 'Routr v1.0');
    assert.deepEqual(doc.spec.edge.transports, [{ protocol: 'udp', port: 5060 }]);
    assert.deepEqual(doc.spec.resources, { provider: 'redis', redis: {} });
    assert.deepEqual(doc.spec.logging, { level: 'trace', sipTrace: true });
    assert.deepEqual(doc.spec.host.processors.map((p) => ({ ...p, config: undefined })), [{ ref: 'connect', isFallback: true, config: undefined }]);
    assert.deepEqual(c.warnings.map((w) => w.path), ['/metadata/userAgent', '/spec/transport', '/spec/dataSource/provider', '/spec/dataSource/parameters', '/spec/logging/traceLevel', '/spec/restService']);
    assert.deepEqual(checkServerDocument(c.document).problems, []);
  });

  test('config v1 - detection: apiVersion v1beta1 with kind Config or none', () => {
    assert.equal(isV1Config({ apiVersion: 'v1beta1', spec: {} }), true);
    assert.equal(isV1Config({ apiVersion: 'v1beta1', kind: 'Config', spec: {} }), true);
    assert.equal(isV1Config({ apiVersion: 'v1beta1', kind: 'Agent', spec: {} }), false);
    assert.equal(isV1Config({ apiVersion: 'v2beta1', kind: 'Server', ref: 'r' }), false);
  });

  test('config v1 - metadata.userAgent → spec.edge.userAgent', () => {
    const c = convert({}, { userAgent: 'Acme SBC' });
    assert.equal(docOf(c).spec.edge.userAgent, 'Acme SBC');
    assert.match(warningAt(c, '/metadata/userAgent'), /Server on routr's own responses, User-Agent on the requests it writes/);
  });

  test('config v1 - bindAddr, externAddr, localnets → spec.edge bindAddr, advertisedAddrs, localnets', () => {
    const c = convert({ bindAddr: '10.0.0.5', externAddr: '203.0.113.9', localnets: ['10.0.0.0/8', '192.168.0.0/16'] });
    const edge = docOf(c).spec.edge;
    assert.equal(edge.bindAddr, '10.0.0.5');
    assert.deepEqual(edge.advertisedAddrs, ['203.0.113.9']);
    assert.deepEqual(edge.localnets, ['10.0.0.0/8', '192.168.0.0/16']);
    for (const p of ['/spec/bindAddr', '/spec/externAddr', '/spec/localnets']) assert.ok(warningAt(c, p), p);
  });

  test('config v1 - recordRoute → spec.edge.recordRoute always / never', () => {
    assert.equal(docOf(convert({ recordRoute: true })).spec.edge.recordRoute, 'always');
    const off = convert({ recordRoute: false });
    assert.equal(docOf(off).spec.edge.recordRoute, 'never');
    assert.match(warningAt(off, '/spec/recordRoute'), /leaves the signalling path/);
  });

  test("config v1 - useToAsAOR and addressInfo → the Connect processor's useToAsAOR and didHeaders; registrarIntf → spec.host.registrar.nat", () => {
    const c = convert({ useToAsAOR: true, registrarIntf: 'Internal', addressInfo: ['X-DID', 'X-Original-To'] });
    assert.deepEqual(connectConfig(c), { algorithms: ['MD5', 'SHA-256'], useToAsAOR: true, didHeaders: ['X-DID', 'X-Original-To'] });
    assert.deepEqual((docOf(c).spec.host as { registrar?: unknown }).registrar, { nat: 'always' });
    assert.match(warningAt(c, '/spec/registrarIntf'), /received\/rport/);
    assert.deepEqual((docOf(convert({ registrarIntf: 'External' })).spec.host as { registrar?: unknown }).registrar, { nat: 'never' });
    assert.match(problemAt(convert({ registrarIntf: 'Sometimes' }), '/spec/registrarIntf'), /must be Internal or External/);
  });

  test('config v1 - accessControlList.allow/deny → spec.edge.accessControlList (checked before parsing)', () => {
    const c = convert({ accessControlList: { deny: ['0.0.0.0/1'], allow: ['192.168.0.1/31'] } });
    assert.deepEqual(docOf(c).spec.edge.accessControlList, { allow: ['192.168.0.1/31'], deny: ['0.0.0.0/1'] });
    assert.match(warningAt(c, '/spec/accessControlList'), /before parsing/);
  });

  test('config v1 - transport[] → spec.edge.transports; sctp is refused', () => {
    const c = convert({ transport: [{ protocol: 'udp', port: 5060 }, { protocol: 'TCP', port: 5060, bindAddr: '10.0.0.5' }, { protocol: 'ws', port: 5062 }] });
    assert.deepEqual(docOf(c).spec.edge.transports, [{ protocol: 'udp', port: 5060 }, { protocol: 'tcp', port: 5060, bindAddr: '10.0.0.5' }, { protocol: 'ws', port: 5062 }]);
    assert.match(problemAt(convert({ transport: [{ protocol: 'sctp', port: 5060 }] }), '/spec/transport/0/protocol'), /routr has no SCTP transport \(Node\.js has no SCTP sockets\)/);
  });

  test('config v1 - securityContext → the tls transports: PKCS#12 keyStore as pfx, client authType and protocols', () => {
    const c = convert({
      transport: [{ protocol: 'tls', port: 5061 }, { protocol: 'wss', port: 5063 }],
      securityContext: { keyStore: 'etc/certs/domains-cert.p12', keyStorePassword: 'changeit', keyStoreType: 'PKCS12', client: { authType: 'Want', protocols: ['TLSv1.2', 'TLSv1.1', 'TLSv1'] }, debugging: true, trustStore: 'etc/certs/trust.p12' },
    });
    const tls = { pfx: 'etc/certs/domains-cert.p12', passphrase: 'changeit', requestClientCert: true, rejectUnauthorized: false };
    assert.deepEqual(docOf(c).spec.edge.transports, [{ protocol: 'tls', port: 5061, tls }, { protocol: 'wss', port: 5063, tls }]);
    assert.match(warningAt(c, '/spec/securityContext/client/protocols'), /TLSv1 and TLSv1\.1 are dropped/);
    assert.match(warningAt(c, '/spec/securityContext/debugging'), /ignored: there is no TLS debug output/);
    assert.match(warningAt(c, '/spec/securityContext/trustStore'), /openssl pkcs12 .* -nokeys -out ca\.pem/);
    const need = convert({ transport: [{ protocol: 'tls', port: 5061 }], securityContext: { keyStore: 'k.p12', keyStorePassword: 'x', keyStoreType: 'PKCS12', client: { authType: 'Need', protocols: ['TLSv1.3'] } } });
    assert.deepEqual(docOf(need).spec.edge.transports, [{ protocol: 'tls', port: 5061, tls: { pfx: 'k.p12', passphrase: 'x', requestClientCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' } }]);
    assert.match(problemAt(convert({ transport: [{ protocol: 'tls', port: 5061 }], securityContext: { keyStore: 'k.p12', client: { protocols: ['TLSv1'] } } }), '/spec/securityContext/client/protocols'), /TLS 1\.2 and 1\.3 only/);
    assert.match(problemAt(convert({ transport: [{ protocol: 'tls', port: 5061 }] }), '/spec/securityContext'), /needs spec\.securityContext\.keyStore/);
  });

  test('config v1 - a JKS keystore (by type, extension or content) is refused with the exact keytool command', () => {
    const byType = convert({ transport: [{ protocol: 'tls', port: 5061 }], securityContext: { keyStore: 'etc/certs/domains-cert.jks', keyStorePassword: 'changeit', keyStoreType: 'jks' } });
    assert.equal(
      problemAt(byType, '/spec/securityContext/keyStore'),
      'etc/certs/domains-cert.jks is a Java keystore (JKS), which Node cannot read: convert it with `keytool -importkeystore -srckeystore etc/certs/domains-cert.jks -srcstoretype JKS -destkeystore etc/certs/domains-cert.p12 -deststoretype pkcs12`, then set keyStore to the .p12 file and keyStoreType to PKCS12',
    );
    writeFileSync(join(dir, 'disguised.p12'), Buffer.from([0xfe, 0xed, 0xfe, 0xed, 0, 0, 0, 2]));
    const byContent = convert({ restService: { keyStore: 'disguised.p12', keyStorePassword: 'x' } });
    assert.match(problemAt(byContent, '/spec/restService/keyStore'), /disguised\.p12 is a Java keystore \(JKS\).*keytool -importkeystore -srckeystore disguised\.p12 -srcstoretype JKS -destkeystore disguised\.p12\.p12 -deststoretype pkcs12/);
  });

  test('config v1 - restService → spec.http: bindAddr, port (default 4567), HTTPS from a PKCS#12 keyStore unless unsecured', () => {
    const https = convert({ restService: { bindAddr: '127.0.0.1', port: 4568, keyStore: 'etc/certs/api.p12', keyStorePassword: 'changeit', trueStore: 'etc/certs/trust.jks', trueStorePassword: 'x', minThreads: 8, maxThreads: 200, timeOutMillis: 5000 } });
    assert.deepEqual(docOf(https).spec.http, { port: 4568, bindAddr: '127.0.0.1', tls: { pfx: 'etc/certs/api.p12', passphrase: 'changeit' } });
    for (const p of ['trueStore', 'trueStorePassword']) assert.match(warningAt(https, `/spec/restService/${p}`), /bearer token/);
    for (const p of ['minThreads', 'maxThreads']) assert.match(warningAt(https, `/spec/restService/${p}`), /no thread pool/);
    assert.match(warningAt(https, '/spec/restService/timeOutMillis'), /ignored/);
    const plain = convert({ restService: { unsecured: true } });
    assert.deepEqual(docOf(plain).spec.http, { port: 4567 });
    assert.match(warningAt(plain, '/spec/restService/port'), /4567 \(v1's default\)/);
    assert.match(problemAt(convert({ restService: { port: 4567 } }), '/spec/restService/keyStore'), /HTTPS \(unsecured is false\) needs keyStore/);
  });

  test('config v1 - dataSource → spec.resources: files, redis and restful, parameters as a map or "k=v,k=v"', () => {
    assert.deepEqual(docOf(convert({ dataSource: { provider: 'files_data_provider', parameters: { path: 'resources' } } })).spec.resources, { provider: 'files', path: 'resources' });
    assert.deepEqual(docOf(convert({})).spec.resources, { provider: 'files', path: '.' }, "no dataSource: files on the config's folder, as v1");
    assert.deepEqual(docOf(convert({ dataSource: { provider: 'redis_data_provider', parameters: 'host=redis.internal,port=6380,secret=s3cret' } })).spec.resources, { provider: 'redis', redis: { host: 'redis.internal', port: 6380, secret: 's3cret' } });
    assert.deepEqual(docOf(convert({ dataSource: { provider: 'restful_data_provider', parameters: { baseUrl: 'https://api.example/v1', username: 'routr', secret: 'pw' } } })).spec.resources, { provider: 'restful', restful: { baseUrl: 'https://api.example/v1', username: 'routr', secret: 'pw' } });
    assert.match(problemAt(convert({ dataSource: { provider: 'restful_data_provider' } }), '/spec/dataSource/parameters/baseUrl'), /needs baseUrl/);
    assert.match(problemAt(convert({ dataSource: { provider: 'mongo_data_provider' } }), '/spec/dataSource/provider'), /must be files_data_provider, redis_data_provider or restful_data_provider/);
  });

  test('config v1 - logging.traceLevel → spec.logging.sipTrace at level trace; 0 turns it off', () => {
    assert.deepEqual(docOf(convert({ logging: { traceLevel: 3 } })).spec.logging, { level: 'trace', sipTrace: true });
    assert.equal(docOf(convert({ logging: { traceLevel: 0 } })).spec.logging, undefined);
  });

  test("config v1 - v1's experimental ex_ properties and unknown ones are ignored with the reason, never silently", () => {
    const c = convert({ ex_rtpEngine: { enabled: true }, ex_convertTelToE164: true, ex_uniqueGatewayPerHostPort: true, colour: 'blue' });
    assert.match(warningAt(c, '/spec/ex_rtpEngine'), /never media/);
    assert.match(warningAt(c, '/spec/ex_convertTelToE164'), /does not rewrite/);
    assert.match(warningAt(c, '/spec/ex_uniqueGatewayPerHostPort'), /always on/);
    assert.match(warningAt(c, '/spec/colour'), /not a Routr v1 property/);
  });

  test('config v1 - every converted document validates as a Server (except where a target is refused)', () => {
    const c = convert({
      bindAddr: '127.0.0.1', externAddr: '203.0.113.9', localnets: ['127.0.0.0/8'], recordRoute: true, useToAsAOR: true, registrarIntf: 'Internal', addressInfo: ['X-DID'],
      transport: [{ protocol: 'udp', port: 5060 }, { protocol: 'tls', port: 5061 }],
      securityContext: { keyStore: 'k.p12', keyStorePassword: 'x', keyStoreType: 'PKCS12' },
      restService: { port: 4567, unsecured: true },
      dataSource: { provider: 'files_data_provider' },
      logging: { traceLevel: 1 },
    });
    assert.deepEqual(checkServerDocument(c.document).problems, []);
  });
});
