/**
 * Attack tests from where the attacker stands: raw SIP over UDP and TCP against a running routr, with its
 * defaults but for the loopback exemption (the attacker here is on loopback too).
 *
 * - Flood: one source (127.0.0.1) sends 5,000 requests/s; it must be banned within a second, its traffic then
 *   dropped unanswered, while sipp calls from another source (127.0.0.2, to a UAS on 127.0.0.3) complete with
 *   0 failed calls.
 * - The ban list, the API and the access list: a ban set through the API drops a source at every transport, is
 *   listed and lifted; an access-list deny drops before any parse.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { freeSipPort, metricValue, spawnRoutr, startRoutr, testConfig, type RunningRoutr, type SpawnedRoutr } from '../helpers/routr.js';
import { runSipp } from '../helpers/sipp.js';
import { waitFor } from '../helpers/wait.js';

const TOKEN = 'test-token-0123456789';

function options(n: number, host = '127.0.0.1', port = 5999): string {
  return [
    `OPTIONS sip:flood@127.0.0.1 SIP/2.0`,
    `Via: SIP/2.0/UDP ${host}:${port};branch=z9hG4bK-flood-${process.pid}-${n};rport`,
    'Max-Forwards: 70',
    `From: <sip:flood@${host}>;tag=f${n}`,
    'To: <sip:flood@127.0.0.1>',
    `Call-ID: flood-${process.pid}-${n}`,
    `CSeq: ${n} OPTIONS`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

async function udpSocket(address: string): Promise<dgram.Socket> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, address, () => resolve()));
  return socket;
}

describe('shield - a flood is banned within a second while another source calls on', () => {
  // Its own process: the edge must not share a thread with the attacker it is measured against.
  let routr: SpawnedRoutr;
  let uas: ReturnType<typeof runSipp>;
  let uasPort: number;

  before(async () => {
    uasPort = await freeSipPort();
    uas = runSipp({ scenario: 'uas-answer-200.xml', localIp: '127.0.0.3', localPort: uasPort });
    await new Promise((r) => setTimeout(r, 300));
    routr = await spawnRoutr(
      await testConfig({
        http: { apiToken: TOKEN },
        security: { rateLimit: { exempt: [] } },
        host: { processors: [{ ref: 'static', isFallback: true, config: { routes: [{ user: '^flood$', respond: { status: 404 } }, { user: '.+', target: `sip:127.0.0.3:${uasPort}` }] } }] },
      }),
    );
  });

  after(async () => {
    await routr?.stop();
    uas?.kill();
    await uas?.result;
  });

  test('shield flood - 5,000 requests/s from one source: banned within 1 s, then unanswered; sipp from another source: 0 failed calls', async () => {
    const calls = runSipp({ scenario: 'uac-expect-200.xml', localIp: '127.0.0.2', remote: `127.0.0.1:${routr.sipPort}`, service: '1000', calls: 150, rate: 50, limit: 50, timeoutSeconds: 30 });
    await new Promise((r) => setTimeout(r, 500));
    const flood = await udpSocket('127.0.0.1');
    try {
      const floodPort = flood.address().port;
      let answers = 0;
      let lastAnswer = 0;
      flood.on('message', () => {
        answers++;
        lastAnswer = Date.now();
      });
      // Built before the clock starts: the sender must not be what limits the rate.
      const messages = Array.from({ length: 10_500 }, (_, i) => Buffer.from(options(i + 1, '127.0.0.1', floodPort)));
      const started = Date.now();
      let n = 0;
      // 5,000/s for 2 s, paced by the clock (timers are coarser than the 0.2 ms between requests).
      while (Date.now() - started < 2000) {
        const due = Math.floor((Date.now() - started) * 5);
        while (n < due) flood.send(messages[n++], routr.sipPort, '127.0.0.1');
        await new Promise((r) => setTimeout(r, 5));
      }
      const listed = (await (await fetch(`http://127.0.0.1:${routr.httpPort}/api/v1/bans`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { items: Array<{ source: string; at: number }> };
      // When the edge banned it, by its own clock (the same machine's).
      const bannedAt = listed.items.find((b) => b.source === '127.0.0.1')?.at ?? 0;
      const rate = n / ((Date.now() - started) / 1000);
      assert.ok(rate >= 4500, `the flood ran at ${Math.round(rate)} requests/s`);
      assert.ok(bannedAt > 0, 'the flooding source was banned');
      assert.ok(bannedAt - started <= 1000, `banned ${bannedAt - started} ms after the flood began (${answers} answers so far)`);
      await new Promise((r) => setTimeout(r, 200));
      assert.ok(lastAnswer <= bannedAt + 200, `answers stopped at the ban (last one ${lastAnswer - bannedAt} ms after)`);
      assert.ok(answers < n / 2, `${answers} of ${n} flood requests were answered`);
      assert.ok((await metricValue(routr.httpPort, 'routr_shield_dropped_total', { reason: 'banned' })) > n / 2);
      assert.equal(await metricValue(routr.httpPort, 'routr_shield_bans_total', { reason: 'rate' }), 1);
    } finally {
      flood.close();
    }
    const result = await calls.result;
    assert.equal(result.failed, 0, `sipp from 127.0.0.2 failed calls\n${result.errors}\n${result.stdout}`);
    assert.equal(result.successful, 150, `sipp from 127.0.0.2\n${result.errors}\n${result.stdout}`);
  });
});

describe('shield - bans and the access list through the API, at every transport', () => {
  let routr: RunningRoutr;

  before(async () => {
    routr = await startRoutr({ http: { apiToken: TOKEN }, edge: { accessControlList: { deny: ['127.0.0.5'] } }, host: { processors: [{ ref: 'static', isFallback: true, config: { routes: [] } }] } });
  });

  after(async () => routr?.stop());

  const api = (method: string, path: string, body?: unknown) =>
    fetch(`http://127.0.0.1:${routr.httpPort}/api/v1/${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });

  async function answered(from: string): Promise<boolean> {
    const socket = await udpSocket(from);
    const got = new Promise<boolean>((resolve) => {
      socket.once('message', () => resolve(true));
      setTimeout(() => resolve(false), 400);
    });
    socket.send(options(Math.floor(Math.random() * 1e9), from, socket.address().port), routr.sipPort, '127.0.0.1');
    const result = await got;
    socket.close();
    return result;
  }

  async function tcpAccepted(from: string): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port: routr.sipPort, localAddress: from });
      socket.once('connect', () => {
        socket.write(options(Math.floor(Math.random() * 1e9), from, socket.localPort).replace('SIP/2.0/UDP', 'SIP/2.0/TCP'));
      });
      socket.once('data', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('close', () => resolve(false));
      socket.once('error', () => resolve(false));
      setTimeout(() => {
        socket.destroy();
        resolve(false);
      }, 500);
    });
  }

  test('shield api - a ban from the API drops the source over UDP and TCP, is listed, and lifted', async () => {
    assert.equal(await answered('127.0.0.4'), true, 'answered before the ban');
    const banned = await api('POST', 'bans', { address: '127.0.0.4', seconds: 60 });
    assert.equal(banned.status, 200);
    assert.equal(await answered('127.0.0.4'), false, 'no answer over UDP');
    assert.equal(await tcpAccepted('127.0.0.4'), false, 'no TCP connection');
    assert.equal(await answered('127.0.0.6'), true, 'other sources are unaffected');
    const list = (await (await api('GET', 'bans')).json()) as { items: Array<{ source: string; reason: string }> };
    assert.deepEqual(list.items.map((b) => [b.source, b.reason]), [['127.0.0.4', 'api']]);
    assert.equal((await api('DELETE', 'bans/127.0.0.4')).status, 200);
    assert.equal((await api('DELETE', 'bans/127.0.0.4')).status, 404);
    assert.equal(await answered('127.0.0.4'), true, 'answered again once lifted');
  });

  test('shield api - the configured access list and the one set through the API drop before any parse', async () => {
    assert.equal(await answered('127.0.0.5'), false, 'denied in the config');
    assert.equal(await tcpAccepted('127.0.0.5'), false);
    assert.equal((await api('PUT', 'acl', { deny: ['127.0.0.7/32'] })).status, 200);
    await waitFor(() => routr.server.shield!.accessControlList.deny.length === 1);
    assert.equal(await answered('127.0.0.7'), false, 'denied through the API');
    assert.equal((await api('PUT', 'acl', { deny: ['not-a-network'] })).status, 400);
    const acl = (await (await api('GET', 'acl')).json()) as { configured: { deny: string[] }; api: { deny: string[] } };
    assert.deepEqual([acl.configured.deny, acl.api.deny], [['127.0.0.5'], ['127.0.0.7/32']]);
    assert.equal((await api('PUT', 'acl', { deny: [] })).status, 200);
    assert.equal(await answered('127.0.0.7'), true);
    assert.ok((await metricValue(routr.httpPort, 'routr_shield_dropped_total', { reason: 'acl' })) >= 3);
  });
});
