/**
 * End to end over TLS, WS and WSS. This sipp build has no TLS (`-t l1` says "compile SIPp with OpenSSL") and
 * sipp has no WebSocket at all, so those clients are routr's TestUA: on Node's `tls`, and on the `ws` package
 * speaking RFC 7118 the way browsers do (`.invalid` Via and Contact). The other side of each call is a real
 * sipp over UDP. A toy registrar (testkit `registrar: true`) stores each REGISTER's Contact and flow, so calls
 * reach clients over the connection they registered on.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { packagePath } from '../../core/paths.js';
import type { NameAddr, SipRequest, SipResponse } from '../../core/sip/types.js';
import { devCertificate } from '../helpers/certs.js';
import { allTransports, freeSipPort, startRoutr, type RunningRoutr, type TransportPorts } from '../helpers/routr.js';
import { runSipp, type SippProcess } from '../helpers/sipp.js';
import { requestText, TestUA } from '../helpers/ua.js';

const pluginsDir = packagePath('test', 'fixtures', 'plugins');
const certs = devCertificate();

async function sippUas(scenario: string, calls?: number): Promise<{ port: number; sipp: SippProcess }> {
  const port = await freeSipPort();
  const sipp = runSipp({ scenario, localPort: port, calls, timeoutSeconds: 30 });
  await new Promise((r) => setTimeout(r, 300));
  return { port, sipp };
}

async function sippUac(scenario: string, options: { port: number; service: string; calls: number }) {
  const result = await runSipp({ scenario, remote: `127.0.0.1:${options.port}`, service: options.service, calls: options.calls, rate: 50, limit: 10, timeoutSeconds: 30 }).result;
  assert.equal(result.failed, 0, `sipp reported failed calls\n${result.errors}\n${result.stdout}`);
  assert.equal(result.successful, options.calls, `expected ${options.calls} successful calls\n${result.errors}\n${result.stdout}`);
}

/** REGISTER as `user`; the edge answers over the client's connection. */
async function register(ua: TestUA, user: string): Promise<void> {
  const callId = `reg-${user}`;
  ua.send(requestText({ method: 'REGISTER', uri: 'sip:127.0.0.1', ua, callId }).replace(/^To: .*$/m, `To: <sip:${user}@127.0.0.1>`));
  await ua.waitForResponse(200, 'REGISTER', 3000, callId);
}

/** A whole call from `ua` to `uri`: INVITE → 200, ACK and BYE along the route set. Returns the 200. */
async function call(ua: TestUA, uri: string, callId: string, options: { hangUp?: boolean } = {}): Promise<SipResponse> {
  ua.send(requestText({ method: 'INVITE', uri, ua, callId, fromTag: 'caller' }));
  const ok = (await ua.waitForResponse(200, 'INVITE', 5000, callId)).message as SipResponse;
  const target = (ok.headers.contact as NameAddr[])[0].uri;
  const routes = [...(ok.headers['record-route'] ?? [])].reverse().map((r) => `Route: <${r.uri}>`);
  const inDialog = { ua, uri: target, callId, fromTag: 'caller', toTag: ok.headers.to.params.tag ?? '', headers: routes };
  ua.send(requestText({ ...inDialog, method: 'ACK' }));
  if (options.hangUp !== false) {
    ua.send(requestText({ ...inDialog, method: 'BYE', cseq: 2 }));
    await ua.waitForResponse(200, 'BYE', 5000, callId);
  }
  return ok;
}

describe('e2e - TLS, WS and WSS clients with sipp over UDP on the other side', () => {
  let routr: RunningRoutr;
  let ports: TransportPorts;
  let uas: { port: number; sipp: SippProcess };
  let checked: { port: number; sipp: SippProcess };
  let hangup: { port: number; sipp: SippProcess };

  before(async () => {
    uas = await sippUas('uas-answer-200.xml');
    checked = await sippUas('uas-wss-answer-200.xml', 1);
    hangup = await sippUas('uas-wss-answer-200-send-bye.xml', 1);
    const all = await allTransports({ cert: certs.certPath, key: certs.keyPath });
    ports = all.ports;
    const to = (user: string, port: number) => ({ ref: user, plugin: 'testkit', matchFunc: `req => req.message.uri.startsWith('sip:${user}@')`, config: { targets: [`sip:${user}@127.0.0.1:${port}`] } });
    routr = await startRoutr({
      edge: { transports: all.transports },
      host: {
        pluginsDir,
        processors: [
          to('checked', checked.port),
          to('hangup', hangup.port),
          { ref: 'registrar', plugin: 'testkit', isFallback: true, config: { registrar: true, targets: [`sip:uas@127.0.0.1:${uas.port}`] } },
        ],
      },
    });
  });

  after(async () => {
    await routr?.stop();
    for (const s of [uas, checked, hangup]) s?.sipp.kill();
    await Promise.all([uas, checked, hangup].map((s) => s?.sipp.result));
  });

  const clients: Array<[string, () => Promise<TestUA>]> = [
    ['tls', () => TestUA.tls({ host: '127.0.0.1', port: ports.tls }, { ca: certs.cert })],
    ['ws', () => TestUA.ws(`ws://127.0.0.1:${ports.ws}`)],
    ['wss', () => TestUA.ws(`wss://127.0.0.1:${ports.wss}`, { ca: certs.cert })],
  ];

  for (const [name, connect] of clients) {
    test(`e2e ${name} - a client registers, calls a sipp UAS over UDP and hangs up`, async () => {
      const ua = await connect();
      await register(ua, `alice-${name}`);
      const ok = await call(ua, 'sip:uas@127.0.0.1', `e2e-call-${name}`);
      assert.equal(ok.headers['record-route']?.length, 2, `double Record-Route between ${name} and UDP`);
      await ua.close();
    });

    test(`e2e ${name} - sipp calls reach the registered client over its own connection`, async () => {
      const ua = await connect();
      const contact = name === 'tls' ? `<sip:bob@127.0.0.1:${ua.port};transport=tls>` : `<sip:bob@${ua.invalidHost};transport=ws>`;
      ua.answerCalls(contact);
      await register(ua, `bob-${name}`);
      await sippUac('uac-expect-200.xml', { port: ports.udp, service: `bob-${name}`, calls: 5 });
      await ua.close();
    });
  }

  test('e2e wss - a browser calls a UDP UAS and hangs up; the UAS saw the double Record-Route', async () => {
    const ua = await TestUA.ws(`wss://127.0.0.1:${ports.wss}`, { ca: certs.cert });
    const ok = await call(ua, 'sip:checked@127.0.0.1', 'wss-bye-from-browser');
    assert.deepEqual(ok.headers['record-route']?.map((r) => r.uri.replace(/;rsig=[^;]*/, '')), [`sip:127.0.0.1:${ports.udp};lr`, `sips:127.0.0.1:${ports.wss};transport=ws;lr`]);
    const result = await checked.sipp.result;
    assert.equal(result.code, 0, `the UAS scenario (Record-Route check, ACK, BYE) failed\n${result.errors}\n${result.stdout}`);
    await ua.close();
  });

  test('e2e wss - a browser calls a UDP UAS that hangs up: the BYE reaches the browser over its WebSocket', async () => {
    const ua = await TestUA.ws(`wss://127.0.0.1:${ports.wss}`, { ca: certs.cert });
    await call(ua, 'sip:hangup@127.0.0.1', 'wss-bye-from-uas', { hangUp: false });
    const bye = (await ua.waitForRequest('BYE', 5000, 'wss-bye-from-uas')).message as SipRequest;
    assert.equal(bye.headers.route, undefined, "routr removed both of its Route entries");
    ua.reply(bye, 200);
    const result = await hangup.sipp.result;
    assert.equal(result.code, 0, `the UAS scenario failed\n${result.errors}\n${result.stdout}`);
    await ua.close();
  });

  test('e2e ws - a call to a WebSocket client whose connection is gone is answered 503', async () => {
    const ua = await TestUA.ws(`ws://127.0.0.1:${ports.ws}`);
    await register(ua, 'gone-ws');
    await ua.close();
    await sippUac('uac-expect-503.xml', { port: ports.udp, service: 'gone-ws', calls: 1 });
  });
});
