/**
 * The connection-oriented transports on their own, over real sockets: keepalive pongs, the per-source limit,
 * idle close, WebSocket handshake rules and liveness, TLS versions, client certificates, certificate problems
 * reported by file and reason, and outbound TLS verification.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { StreamTransport } from '../../core/edge/stream.js';
import { TcpTransport } from '../../core/edge/tcp.js';
import { TlsTransport } from '../../core/edge/tls.js';
import { loadTlsMaterial, TlsSetupError } from '../../core/config/tls-files.js';
import { TransportError, type Inbound, type Transport } from '../../core/edge/transport.js';
import { WsTransport } from '../../core/edge/ws.js';
import { devCertificate } from '../helpers/certs.js';
import { TestUA } from '../helpers/ua.js';
import { waitFor } from '../helpers/wait.js';

const certs = devCertificate();
const tlsFiles = { cert: certs.certPath, key: certs.keyPath };
const dir = mkdtempSync(join(tmpdir(), 'routr-tls-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const OPTIONS = 'OPTIONS sip:edge@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKa\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:edge@127.0.0.1>\r\nCall-ID: t1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n';

async function started<T extends Transport>(transport: T): Promise<{ transport: T; inbound: Inbound[] }> {
  const inbound: Inbound[] = [];
  await transport.start((i) => inbound.push(i));
  return { transport, inbound };
}

function connectTcp(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

function connectTls(port: number, options: tls.ConnectionOptions = {}): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca: certs.cert, ...options }, () => resolve(socket));
    socket.once('error', reject);
  });
}

function connectWs(url: string, protocol: string | string[] = 'sip', options: { autoPong?: boolean; ca?: Buffer } = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocol, { ca: options.ca ?? certs.cert, autoPong: options.autoPong ?? true });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

function nextData(socket: net.Socket): Promise<string> {
  return new Promise((resolve) => socket.once('data', (d: Buffer) => resolve(d.toString('latin1'))));
}

function closed(socket: net.Socket | WebSocket): Promise<void> {
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

const bind = { bindAddr: '127.0.0.1', port: 0 };

describe('transports - stream keepalives, limits and idle close', () => {
  test('tcp - a double-CRLF ping is answered with one CRLF, and messages still frame after it', async () => {
    const { transport, inbound } = await started(new TcpTransport(bind));
    const socket = await connectTcp(transport.local.port);
    const pong = nextData(socket);
    socket.write('\r\n\r\n');
    assert.equal(await pong, '\r\n');
    socket.write(OPTIONS);
    await waitFor(() => inbound.length === 1, { what: 'the OPTIONS' });
    assert.equal(inbound[0].source.transport, 'tcp');
    socket.destroy();
    await transport.close();
  });

  test('tls - a double-CRLF ping is answered with one CRLF', async () => {
    const { transport } = await started(new TlsTransport({ ...bind, tls: tlsFiles }));
    const socket = await connectTls(transport.local.port);
    const pong = nextData(socket);
    socket.write('\r\n\r\n');
    assert.equal(await pong, '\r\n');
    socket.destroy();
    await transport.close();
  });

  for (const [name, make] of [
    ['tcp', () => new TcpTransport({ ...bind, maxConnectionsPerSource: 2 })],
    ['tls', () => new TlsTransport({ ...bind, maxConnectionsPerSource: 2, tls: tlsFiles })],
  ] as const) {
    test(`${name} - connections beyond maxConnectionsPerSource from one address are closed at once`, async () => {
      const { transport } = await started<StreamTransport>(make());
      const port = transport.local.port;
      const open = [await connectTcp(port), await connectTcp(port)];
      await waitFor(() => transport.connectionCount === 2 || name === 'tls', { what: 'two connections' });
      const third = await connectTcp(port);
      await closed(third);
      open[0].destroy();
      await closed(open[0]);
      await waitFor(async () => {
        const again = await connectTcp(port);
        const stillOpen = await Promise.race([closed(again).then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), 100))]);
        again.destroy();
        return stillOpen;
      }, { what: 'a connection accepted once one closed' });
      open[1].destroy();
      await transport.close();
    });
  }

  test('tcp - a connection idle for idleTimeoutMs is closed; traffic keeps it open', async () => {
    const { transport } = await started(new TcpTransport({ ...bind, idleTimeoutMs: 300 }));
    const idle = await connectTcp(transport.local.port);
    const busy = await connectTcp(transport.local.port);
    const started_ = Date.now();
    const keep = setInterval(() => busy.write('\r\n\r\n'), 100);
    await closed(idle);
    assert.ok(Date.now() - started_ >= 250, 'not before the idle timeout');
    assert.equal(busy.destroyed, false, 'the connection with keepalives stays open');
    clearInterval(keep);
    busy.destroy();
    await transport.close();
  });

  test('tls - an idle TLS connection is closed too', async () => {
    const { transport } = await started(new TlsTransport({ ...bind, idleTimeoutMs: 300, tls: tlsFiles }));
    const socket = await connectTls(transport.local.port);
    await closed(socket);
    await transport.close();
  });
});

describe('transports - TLS', () => {
  test('tls - clients offering only TLS 1.1 are refused (TLS 1.2 is the minimum)', async () => {
    const { transport } = await started(new TlsTransport({ ...bind, tls: tlsFiles }));
    await assert.rejects(connectTls(transport.local.port, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1' }));
    const ok = await connectTls(transport.local.port, { maxVersion: 'TLSv1.2' });
    assert.equal(ok.getProtocol(), 'TLSv1.2');
    ok.destroy();
    await transport.close();
  });

  test('tls - requestClientCert refuses a client without a trusted certificate and accepts one with it', async () => {
    const { transport } = await started(new TlsTransport({ ...bind, tls: { ...tlsFiles, ca: certs.certPath, requestClientCert: true } }));
    const port = transport.local.port;
    await assert.rejects(async () => {
      const socket = await connectTls(port);
      // TLS 1.3 reports the refusal after the client's handshake completes: on the first read.
      await new Promise((resolve, reject) => {
        socket.once('error', reject);
        socket.once('close', resolve);
        socket.write('\r\n\r\n');
      });
      throw new Error('closed without an error');
    });
    const socket = await connectTls(port, { cert: certs.cert, key: certs.key });
    const pong = nextData(socket);
    socket.write('\r\n\r\n');
    assert.equal(await pong, '\r\n');
    socket.destroy();
    await transport.close();
  });

  test('tls - outbound connections verify the peer: trusted CA delivers, an untrusted certificate is a transport error', async () => {
    const uas = await TestUA.tlsServer({ cert: certs.cert, key: certs.key });
    const trusting = await started(new TlsTransport({ ...bind, tls: { ...tlsFiles, ca: certs.certPath } }));
    await trusting.transport.send({ host: '127.0.0.1', port: uas.port, transport: 'tls' }, Buffer.from(OPTIONS));
    await uas.waitForRequest('OPTIONS');
    const strict = await started(new TlsTransport({ ...bind, tls: tlsFiles }));
    await assert.rejects(strict.transport.send({ host: '127.0.0.1', port: uas.port, transport: 'tls' }, Buffer.from(OPTIONS)), (err: Error) => {
      assert.ok(err instanceof TransportError);
      assert.match(err.message, /tls connect to 127\.0\.0\.1:\d+: .*certificate/i);
      return true;
    });
    const lax = await started(new TlsTransport({ ...bind, tls: { ...tlsFiles, rejectUnauthorized: false } }));
    await lax.transport.send({ host: '127.0.0.1', port: uas.port, transport: 'tls' }, Buffer.from(OPTIONS));
    await uas.waitForRequest('OPTIONS');
    await Promise.all([trusting.transport.close(), strict.transport.close(), lax.transport.close(), uas.close()]);
  });

  test('tls - certificate problems name the file and the reason', () => {
    const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const otherKey = write('other-key.pem', other.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    const encrypted = write('encrypted-key.pem', other.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' }) as string);
    const garbage = write('garbage.pem', 'hello, I am not a certificate\n');
    const badBase64 = write('bad-cert.pem', '-----BEGIN CERTIFICATE-----\nnot*base64!\n-----END CERTIFICATE-----\n');
    const cases: Array<[Parameters<typeof loadTlsMaterial>[0], RegExp]> = [
      [{ cert: join(dir, 'missing.pem'), key: certs.keyPath }, /cannot read certificate file .*missing\.pem: no such file/],
      [{ cert: certs.certPath, key: join(dir, 'nokey.pem') }, /cannot read private key file .*nokey\.pem: no such file/],
      [{ cert: garbage, key: certs.keyPath }, /certificate file .*garbage\.pem is not PEM/],
      [{ cert: certs.keyPath, key: certs.keyPath }, /certificate file .*key\.pem holds no certificate/],
      [{ cert: badBase64, key: certs.keyPath }, /certificate file .*bad-cert\.pem holds a certificate that cannot be read/],
      [{ cert: certs.certPath, key: otherKey }, /private key file .*other-key\.pem does not match certificate file .*cert\.pem/],
      [{ cert: certs.certPath, key: encrypted }, /private key file .*encrypted-key\.pem is encrypted/],
      [{ cert: certs.certPath, key: certs.keyPath, ca: garbage }, /CA file .*garbage\.pem is not PEM/],
      [{ cert: certs.certPath, key: dir }, /cannot read private key file .*: is a directory/],
    ];
    for (const [settings, message] of cases) {
      assert.throws(() => loadTlsMaterial(settings), (err: Error) => err instanceof TlsSetupError && message.test(err.message), `expected ${message}`);
    }
    assert.deepEqual(loadTlsMaterial(tlsFiles).warnings, []);
  });

  test('tls - a transport with a bad certificate fails to start with that message', async () => {
    const transport = new TlsTransport({ ...bind, tls: { cert: join(dir, 'absent.pem'), key: certs.keyPath } });
    await assert.rejects(transport.start(() => {}), /^TransportError: tls 127\.0\.0\.1:0: cannot read certificate file .*absent\.pem: no such file/);
    await transport.close();
    const wss = new WsTransport({ protocol: 'wss', ...bind, tls: { cert: certs.certPath, key: join(dir, 'absent-key.pem') } });
    await assert.rejects(wss.start(() => {}), /wss 127\.0\.0\.1:0: cannot read private key file .*absent-key\.pem: no such file/);
    await wss.close();
  });
});

describe('transports - WebSocket', () => {
  test('ws - the handshake must offer the sip subprotocol; a wrong path is 404; plain HTTP is 426', async () => {
    const { transport } = await started(new WsTransport({ protocol: 'ws', ...bind, path: '/sip' }));
    const url = `ws://127.0.0.1:${transport.local.port}/sip`;
    await assert.rejects(connectWs(url, []), /HTTP 400/);
    await assert.rejects(connectWs(url, 'chat'), /HTTP 400/);
    await assert.rejects(connectWs(`ws://127.0.0.1:${transport.local.port}/other`), /HTTP 404/);
    const ws = await connectWs(url);
    assert.equal(ws.protocol, 'sip');
    const res = await fetch(`http://127.0.0.1:${transport.local.port}/sip`);
    assert.equal(res.status, 426);
    ws.terminate();
    await transport.close();
  });

  test('ws - one SIP message per WebSocket message; a CRLF CRLF message is answered with CRLF', async () => {
    const { transport, inbound } = await started(new WsTransport({ protocol: 'ws', ...bind }));
    const ws = await connectWs(`ws://127.0.0.1:${transport.local.port}`);
    const pong = new Promise<string>((resolve) => ws.once('message', (d: Buffer) => resolve(d.toString())));
    ws.send('\r\n\r\n');
    assert.equal(await pong, '\r\n');
    ws.send(OPTIONS);
    await waitFor(() => inbound.length === 1, { what: 'the OPTIONS' });
    assert.equal(inbound[0].source.transport, 'ws');
    assert.equal(Buffer.from(inbound[0].data).toString(), OPTIONS);
    // Replies by address find the flow; an address with no flow is a transport error (we never dial a browser).
    const reply = new Promise<string>((resolve) => ws.once('message', (d: Buffer) => resolve(d.toString())));
    await transport.send({ ...inbound[0].source }, Buffer.from('SIP/2.0 200 OK\r\n\r\n'));
    assert.match(await reply, /^SIP\/2\.0 200 OK/);
    await assert.rejects(transport.send({ host: '127.0.0.1', port: 1, transport: 'ws' }, Buffer.from(OPTIONS)), /no connection with 127\.0\.0\.1:1/);
    ws.terminate();
    await transport.close();
  });

  test('ws - a peer that stops answering pings is terminated; one that answers stays', async () => {
    const { transport } = await started(new WsTransport({ protocol: 'ws', ...bind, pingIntervalMs: 100 }));
    const url = `ws://127.0.0.1:${transport.local.port}`;
    const live = await connectWs(url);
    const dead = await connectWs(url, 'sip', { autoPong: false });
    await closed(dead);
    await waitFor(() => transport.connectionCount === 1, { what: 'the dead connection gone at the edge' });
    assert.equal(live.readyState, WebSocket.OPEN);
    live.terminate();
    await transport.close();
  });

  test('ws - connections beyond maxConnectionsPerSource are closed before the handshake', async () => {
    const { transport } = await started(new WsTransport({ protocol: 'ws', ...bind, maxConnectionsPerSource: 1 }));
    const url = `ws://127.0.0.1:${transport.local.port}`;
    const first = await connectWs(url);
    await assert.rejects(connectWs(url));
    first.terminate();
    await transport.close();
  });

  test('wss - the same over TLS, with the transport certificate', async () => {
    const { transport, inbound } = await started(new WsTransport({ protocol: 'wss', ...bind, tls: tlsFiles }));
    const ws = await connectWs(`wss://127.0.0.1:${transport.local.port}`);
    ws.send(OPTIONS);
    await waitFor(() => inbound.length === 1, { what: 'the OPTIONS' });
    assert.equal(inbound[0].source.transport, 'wss');
    ws.terminate();
    await transport.close();
  });
});

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}
