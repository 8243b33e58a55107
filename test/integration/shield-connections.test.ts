/**
 * Connection exhaustion, from where the attacker stands (raw TCP against a running routr in its own process):
 * many connections (the edge-wide cap and the per-source cap), slow headers (slowloris: a byte at a time keeps
 * no connection alive past the header deadline), and a peer that never reads (dropped once its queue passes
 * maxWriteBufferBytes). Each leaves the edge answering other clients, and its RSS bounded.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { metricValue, spawnRoutr, testConfig, type SpawnedRoutr } from '../helpers/routr.js';
import { waitFor } from '../helpers/wait.js';

let seq = 0;

function options(port: number, transport: 'UDP' | 'TCP', from = '127.0.0.1', local = 5999, extraVias = 0): string {
  const n = ++seq;
  return [
    `OPTIONS sip:127.0.0.1:${port} SIP/2.0`,
    `Via: SIP/2.0/${transport} ${from}:${local};branch=z9hG4bK-conn-${process.pid}-${n};rport`,
    // Every response carries the request's Vias back: a few KB of them make every answer a few KB.
    ...Array.from({ length: extraVias }, (_, i) => `Via: SIP/2.0/TCP 10.0.${i >> 8}.${i & 255}:5060;branch=z9hG4bK-hop-${i}`),
    'Max-Forwards: 70',
    `From: <sip:probe@${from}>;tag=c${n}`,
    `To: <sip:127.0.0.1:${port}>`,
    `Call-ID: conn-${process.pid}-${n}`,
    `CSeq: ${n} OPTIONS`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

function rssKiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(line?.match(/(\d+)/)?.[1] ?? 0);
}

/** A UDP OPTIONS from another source is still answered 200. */
async function udpAnswered(port: number, from: string): Promise<boolean> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, from, () => resolve()));
  const answered = new Promise<boolean>((resolve) => {
    socket.once('message', (m) => resolve(m.toString().startsWith('SIP/2.0 200')));
    setTimeout(() => resolve(false), 1500);
  });
  socket.send(options(port, 'UDP', from, socket.address().port), port, '127.0.0.1');
  const ok = await answered;
  socket.close();
  return ok;
}

interface Probe {
  socket: net.Socket;
  closed: Promise<number>;
}

/** A TCP connection from `from`; `closed` resolves to when the edge closed it (ms since connect). */
function connect(port: number, from: string): Promise<Probe> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress: from });
    const started = Date.now();
    const closed = new Promise<number>((done) => socket.once('close', () => done(Date.now() - started)));
    socket.on('error', () => {});
    socket.once('connect', () => resolve({ socket, closed }));
    socket.once('close', () => resolve({ socket, closed }));
  });
}

function openWithin(probe: Probe, ms: number): Promise<boolean> {
  return Promise.race([probe.closed.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), ms))]);
}

describe('shield - connection exhaustion', () => {
  let routr: SpawnedRoutr;

  before(async () => {
    routr = await spawnRoutr(
      await testConfig({
        edge: { maxConnections: 40, maxConnectionsPerSource: 10, headerTimeoutMs: 500, bodyTimeoutMs: 500, maxWriteBufferBytes: 65536 },
        host: { processors: [{ ref: 'static', isFallback: true, config: { routes: [] } }] },
      }),
    );
  });

  after(async () => routr?.stop());

  test('shield connections - past maxConnectionsPerSource and maxConnections new connections are closed at once; others are still served', async () => {
    const rssBefore = rssKiB(routr.child.pid!);
    const probes: Probe[] = [];
    // 6 sources × 10 connections each = 60 offered against an edge-wide cap of 40; one source tries 25.
    for (let source = 0; source < 6; source++) {
      for (let i = 0; i < (source === 0 ? 25 : 10); i++) {
        const probe = await connect(routr.sipPort, `127.0.1.${source + 1}`);
        // A client that says something (the first-message deadline is not what is tested here).
        if (!probe.socket.destroyed) probe.socket.write(options(routr.sipPort, 'TCP', `127.0.1.${source + 1}`, probe.socket.localPort));
        probes.push(probe);
      }
    }
    // 15 over the per-source cap (source 0), then 20 over the edge-wide one; on a loaded machine the edge may
    // take a while to get through its accept queue, so wait for it rather than for a fixed time.
    let closed = 0;
    for (const p of probes) void p.closed.then(() => closed++);
    await waitFor(() => closed >= 35, { timeoutMs: 15_000, what: '35 refused connections closed' });
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(probes.length - closed, 40, `${probes.length - closed} of ${probes.length} connections stayed open`);
    assert.equal(await metricValue(routr.httpPort, 'routr_edge_limit_hits_total', { limit: 'connections_per_source' }), 15);
    assert.equal(await metricValue(routr.httpPort, 'routr_edge_limit_hits_total', { limit: 'connections' }), 20);
    assert.equal(await udpAnswered(routr.sipPort, '127.0.0.2'), true, 'UDP clients are still answered');
    for (const p of probes) p.socket.destroy();
    await waitFor(async () => {
      const fresh = await connect(routr.sipPort, '127.0.2.1');
      const ok = await openWithin(fresh, 200);
      fresh.socket.destroy();
      return ok;
    }, { timeoutMs: 3000, what: 'a new connection accepted once the others closed' });
    assert.ok(rssKiB(routr.child.pid!) - rssBefore < 50_000, 'RSS bounded');
  });

  test('shield connections - slowloris: a header block trickled a byte at a time is cut at headerTimeoutMs; a silent connection too', async () => {
    const slow = await connect(routr.sipPort, '127.0.3.1');
    const silent = await connect(routr.sipPort, '127.0.3.2');
    const text = options(routr.sipPort, 'TCP', '127.0.3.1');
    let i = 0;
    const drip = setInterval(() => {
      if (!slow.socket.destroyed) slow.socket.write(text[i++ % text.length] === '\r' ? 'X' : text[i % text.length]);
    }, 50);
    try {
      const [slowClosed, silentClosed] = await Promise.all([
        Promise.race([slow.closed, new Promise<number>((r) => setTimeout(() => r(-1), 8000))]),
        Promise.race([silent.closed, new Promise<number>((r) => setTimeout(() => r(-1), 8000))]),
      ]);
      // The whole message would take 15 s at a byte every 50 ms; the idle timer (300 s) would never fire.
      assert.ok(slowClosed > 0 && slowClosed < 6000, `the slow connection was closed after ${slowClosed} ms (headerTimeoutMs 500; a byte every 50 ms)`);
      assert.ok(silentClosed > 0 && silentClosed < 6000, `the silent connection was closed after ${silentClosed} ms`);
    } finally {
      clearInterval(drip);
    }
    assert.ok((await metricValue(routr.httpPort, 'routr_edge_limit_hits_total', { limit: 'header_timeout' })) >= 2);
    // A client that sends whole messages is not cut, however long it stays.
    const good = await connect(routr.sipPort, '127.0.3.3');
    let answers = 0;
    good.socket.on('data', (d) => (answers += (d.toString().match(/SIP\/2\.0 200/g) ?? []).length));
    for (let n = 0; n < 8; n++) {
      good.socket.write(options(routr.sipPort, 'TCP', '127.0.3.3', good.socket.localPort));
      await new Promise((r) => setTimeout(r, 150));
    }
    assert.equal(await openWithin(good, 100), true, 'a well-behaved connection outlives the deadline');
    assert.equal(answers, 8);
    good.socket.destroy();
  });

  test('shield connections - a peer that sends requests and never reads is dropped once maxWriteBufferBytes is queued', async () => {
    const rssBefore = rssKiB(routr.child.pid!);
    const peer = await connect(routr.sipPort, '127.0.4.1');
    peer.socket.pause(); // never reads: its receive buffer, then routr's send buffer, fill up
    // ≈ 40 KB answers: the kernel's buffers (tens of MB on loopback) fill after a thousand or so.
    const batch = Array.from({ length: 10 }, () => options(routr.sipPort, 'TCP', '127.0.4.1', peer.socket.localPort, 700)).join('');
    let sent = 0;
    const deadline = Date.now() + 20_000;
    while (!peer.socket.destroyed && Date.now() < deadline && sent < 5000) {
      if (!peer.socket.write(batch)) await new Promise((r) => setTimeout(r, 5));
      sent += 10;
    }
    const closedAfter = await Promise.race([peer.closed, new Promise<number>((r) => setTimeout(() => r(-1), 20_000))]);
    assert.ok(closedAfter > 0, `the non-reading peer was not dropped (${sent} requests sent)`);
    assert.ok((await metricValue(routr.httpPort, 'routr_edge_limit_hits_total', { limit: 'write_buffer' })) >= 1);
    assert.equal(await udpAnswered(routr.sipPort, '127.0.0.2'), true, 'others are still answered');
    assert.ok(rssKiB(routr.child.pid!) - rssBefore < 100_000, `RSS grew ${rssKiB(routr.child.pid!) - rssBefore} KiB`);
  });
});
