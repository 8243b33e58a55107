/**
 * Connection reuse through the whole edge: a client that registered over TCP, TLS, WS or WSS gets its answers
 * over that connection and is reached over it for calls and in-dialog requests (it has no listening socket,
 * so nothing else could reach it); once it is gone, a call to it is 503. Also: connection limits from the
 * config, and TLS problems at startup reported by file while UDP serves on.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { createLogger } from '../../core/log.js';
import { packagePath } from '../../core/paths.js';
import type { NameAddr, SipRequest, SipResponse } from '../../core/sip/types.js';
import { devCertificate } from '../helpers/certs.js';
import { allTransports, freeSipPort, freeTcpPort, startRoutr, type RunningRoutr, type TransportPorts } from '../helpers/routr.js';
import { requestText, TestUA } from '../helpers/ua.js';
import { waitFor } from '../helpers/wait.js';

const pluginsDir = packagePath('test', 'fixtures', 'plugins');
const fast = { t1: 50, t2: 400, t4: 200, timerC: 180000 };
const certs = devCertificate();
const registrar = { pluginsDir, processors: [{ ref: 'registrar', plugin: 'testkit', config: { registrar: true } }] };

type Connected = 'tcp' | 'tls' | 'ws' | 'wss';

function connect(transport: Connected, ports: TransportPorts): Promise<TestUA> {
  const remote = { host: '127.0.0.1', port: ports[transport] };
  switch (transport) {
    case 'tcp':
      return TestUA.tcp(remote);
    case 'tls':
      return TestUA.tls(remote, { ca: certs.cert });
    case 'ws':
      return TestUA.ws(`ws://127.0.0.1:${ports.ws}`);
    case 'wss':
      return TestUA.ws(`wss://127.0.0.1:${ports.wss}`, { ca: certs.cert });
  }
}

/** Our Record-Route entry for a listening point, as the edge writes it (RFC 7118 5.2 for WebSocket). */
function ourRecordRoute(transport: Connected | 'udp', port: number): string {
  const scheme = transport === 'tls' || transport === 'wss' ? 'sips' : 'sip';
  const param = transport === 'udp' ? '' : `;transport=${transport === 'wss' ? 'ws' : transport}`;
  return `${scheme}:127.0.0.1:${port}${param};lr`;
}

describe('flows - a registered client is reached over its own connection', () => {
  let routr: RunningRoutr;
  let ports: TransportPorts;
  let caller: TestUA;
  const proxy = () => ({ host: '127.0.0.1', port: ports.udp });

  before(async () => {
    const all = await allTransports({ cert: certs.certPath, key: certs.keyPath });
    ports = all.ports;
    routr = await startRoutr({ edge: { timers: fast, transports: all.transports }, host: registrar });
    caller = await TestUA.udp();
  });

  after(async () => {
    await caller?.close();
    await routr?.stop();
  });

  for (const transport of ['tcp', 'tls', 'ws', 'wss'] as const) {
    test(`${transport} - REGISTER, a call to the client and its BYE go over the client's connection; once closed, 503`, async () => {
      const webSocket = transport === 'ws' || transport === 'wss';
      const user = `bob-${transport}`;
      const bob = await connect(transport, ports);
      bob.send(requestText({ method: 'REGISTER', uri: 'sip:127.0.0.1', ua: bob, callId: `reg-${transport}` }).replace(/^To: .*$/m, `To: <sip:${user}@127.0.0.1>`));
      const registered = (await bob.waitForResponse(200, 'REGISTER', 3000, `reg-${transport}`)).message as SipResponse;
      const flowContact = `sip:alice@127.0.0.1:${bob.port};transport=${transport}`;
      // The registrar stored what the edge handed it: for a browser, the flow instead of the .invalid host.
      assert.equal((registered.headers.contact as NameAddr[])[0].uri, flowContact);

      const callId = `call-${transport}`;
      caller.send(requestText({ method: 'INVITE', uri: `sip:${user}@127.0.0.1`, ua: caller, callId, fromTag: 'caller' }), proxy());
      const invite = (await bob.waitForRequest('INVITE', 3000, callId)).message as SipRequest;
      assert.equal(invite.uri, flowContact);
      assert.equal(invite.headers.via[0].protocol, transport.toUpperCase());
      assert.deepEqual(
        invite.headers['record-route']?.map((r) => r.uri.replace(/;rsig=[^;]*/, '')),
        [ourRecordRoute(transport, ports[transport]), ourRecordRoute('udp', ports.udp)],
        'double Record-Route: one entry per side',
      );
      const bobContact = webSocket ? `<sip:bob@${bob.invalidHost};transport=ws>` : `<sip:bob@127.0.0.1:${bob.port};transport=${transport}>`;
      bob.reply(invite, 200, { toTag: 'bob', headers: { Contact: bobContact } });
      const ok = (await caller.waitForResponse(200, 'INVITE', 3000, callId)).message as SipResponse;
      const target = (ok.headers.contact as NameAddr[])[0].uri;
      assert.equal(target, `sip:bob@127.0.0.1:${bob.port};transport=${transport}`, 'a .invalid Contact in a response is rewritten too');

      const routes = [...(ok.headers['record-route'] ?? [])].reverse().map((r) => `Route: <${r.uri}>`);
      const inDialog = { ua: caller, callId, fromTag: 'caller', toTag: 'bob', headers: routes };
      caller.send(requestText({ ...inDialog, method: 'ACK', uri: target }), proxy());
      await bob.waitForRequest('ACK', 3000, callId);
      caller.send(requestText({ ...inDialog, method: 'BYE', uri: target, cseq: 2 }), proxy());
      const bye = (await bob.waitForRequest('BYE', 3000, callId)).message as SipRequest;
      bob.reply(bye, 200);
      await caller.waitForResponse(200, 'BYE', 3000, callId);

      await bob.close();
      caller.send(requestText({ method: 'INVITE', uri: `sip:${user}@127.0.0.1`, ua: caller, callId: `gone-${transport}` }), proxy());
      await caller.waitForResponse(503, 'INVITE', 3000, `gone-${transport}`);
    });
  }
});

describe('flows - connection limits from the config', () => {
  let routr: RunningRoutr;
  let wsPort: number;

  before(async () => {
    const sip = await freeSipPort();
    wsPort = await freeTcpPort();
    const transports = [
      { protocol: 'udp' as const, port: sip },
      { protocol: 'tcp' as const, port: sip },
      { protocol: 'ws' as const, port: wsPort },
    ];
    routr = await startRoutr({ edge: { idleTimeoutMs: 1000, maxConnectionsPerSource: 2, transports }, host: registrar });
  });

  after(async () => {
    await routr?.stop();
  });

  test('limits - idle TCP connections close after idleTimeoutMs; a third connection from one address is refused', async () => {
    const port = routr.server.edge!.listeningPoints.find((lp) => lp.transport === 'tcp')!.port;
    const first = await TestUA.tcp({ host: '127.0.0.1', port });
    const second = await TestUA.tcp({ host: '127.0.0.1', port });
    const third = await TestUA.tcp({ host: '127.0.0.1', port });
    await waitFor(() => third.closed, { what: 'the third connection refused' });
    assert.equal(first.closed, false);
    const opened = Date.now();
    await waitFor(() => first.closed && second.closed, { timeoutMs: 3000, what: 'idle connections closed' });
    assert.ok(Date.now() - opened >= 800, 'closed by the idle timeout, not at once');
  });

  test('limits - a WebSocket peer that stops answering pings is dropped within the idle timeout', async () => {
    // A vanished browser, as the edge sees it: a connection that no longer answers pings.
    const silent = await TestUA.ws(`ws://127.0.0.1:${wsPort}`, { autoPong: false });
    const live = await TestUA.ws(`ws://127.0.0.1:${wsPort}`);
    await waitFor(() => silent.closed, { timeoutMs: 3000, what: 'the silent WebSocket closed' });
    assert.equal(live.closed, false, 'a peer answering pings stays connected however quiet');
    await live.close();
  });
});

describe('flows - TLS problems at startup', () => {
  test('tls - a missing certificate and an unusable key are logged by file and reason; UDP still serves', async () => {
    let output = '';
    const destination = new Writable({ write: (chunk: Buffer, _enc, done) => ((output += chunk.toString()), done()) });
    const udpPort = await freeSipPort();
    const tlsPort = await freeTcpPort();
    const wssPort = await freeTcpPort();
    const missing = join(packagePath('test'), 'no-such-cert.pem');
    const transports = [
      { protocol: 'udp' as const, port: udpPort },
      { protocol: 'tls' as const, port: tlsPort, tls: { cert: missing, key: certs.keyPath } },
      { protocol: 'wss' as const, port: wssPort, tls: { cert: certs.certPath, key: certs.certPath } },
    ];
    const logger = createLogger({ level: 'warn', destination });
    const routr = await startRoutr({ edge: { transports }, host: { pluginsDir, processors: [{ ref: 'ok', plugin: 'testkit' }] } }, { logger });
    try {
      assert.match(output, new RegExp(`transport failed to start: tls 127\\.0\\.0\\.1:${tlsPort}: cannot read certificate file ${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: no such file`));
      assert.match(output, new RegExp(`transport failed to start: wss 127\\.0\\.0\\.1:${wssPort}: private key file .*cert\\.pem holds no usable private key`));
      await assert.rejects(TestUA.tcp({ host: '127.0.0.1', port: tlsPort }), /ECONNREFUSED/, 'nothing listens where TLS failed');
      const ua = await TestUA.udp();
      ua.send(requestText({ method: 'OPTIONS', uri: 'sip:ok@127.0.0.1', ua }), { host: '127.0.0.1', port: udpPort });
      await ua.waitForResponse(200, 'OPTIONS');
      await ua.close();
    } finally {
      await routr.stop();
    }
  });
});
