/**
 * Request handlers (web callbacks) against real HTTP servers in this process: every answer form, every
 * failure form answered 503 with Retry-After, and the {"url"} hand-off under load leaving no connection open.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { createLogger } from '../../core/log.js';
import { App } from '../../core/apps/sdk/index.js';
import type { HostReply, MessageEnvelope } from '../../core/envelope.js';
import { packagePath } from '../../core/paths.js';
import { APP_TOKEN } from '../helpers/apps.js';
import { devCertificate } from '../helpers/certs.js';
import { answered, decide, envelope, statusOf } from '../helpers/envelopes.js';
import { freeTcpPort, metricValue, startRoutr, type RunningRoutr } from '../helpers/routr.js';
import { sleep, waitFor } from '../helpers/wait.js';

interface Served {
  server: http.Server;
  port: number;
  /** Every connection ever accepted, and those still open. */
  total: number;
  open: Set<Socket>;
  requests: Array<{ method: string; url: URL; headers: http.IncomingHttpHeaders; body: string }>;
}

function listen(server: http.Server, handle: (req: http.IncomingMessage, body: string, res: http.ServerResponse) => void): Promise<Served> {
  const served: Served = { server, port: 0, total: 0, open: new Set(), requests: [] };
  server.on(server instanceof https.Server ? 'secureConnection' : 'connection', (socket: Socket) => {
    served.total++;
    served.open.add(socket);
    socket.on('close', () => served.open.delete(socket));
  });
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      served.requests.push({ method: req.method ?? '', url: new URL(req.url ?? '/', 'http://x'), headers: req.headers, body });
      handle(req, body, res);
    });
  });
  return new Promise((resolve) =>
    server
      .listen(0, '127.0.0.1', () => {
        served.port = (server.address() as AddressInfo).port;
        resolve(served);
      })
      .unref(),
  );
}

function json(res: http.ServerResponse, value: unknown, status = 200): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(typeof value === 'string' ? value : JSON.stringify(value));
}

function userOf(url: URL): string {
  return /^sips?:([^@;]+)@/.exec(url.searchParams.get('to') ?? '')?.[1] ?? '';
}

describe('apps - request handlers (web callbacks)', () => {
  let callback: Served;
  let handoffs: Served;
  let tls: Served;
  let routr: RunningRoutr;
  let app: App;
  let closedPort: number;
  /** What routr logged at warn and above: the reasons behind a 503, for assertion messages. */
  const warnings: string[] = [];
  const logger = createLogger({
    level: 'warn',
    destination: new Writable({
      write(chunk: Buffer, _encoding, done) {
        warnings.push(...chunk.toString().split('\n').filter(Boolean));
        done();
      },
    }),
  });

  before(async () => {
    handoffs = await listen(http.createServer(), (_req, body, res) => {
      const env = JSON.parse(body) as MessageEnvelope;
      json(res, { action: 'forward', targets: [{ uri: 'sip:handed@10.0.0.7' }], headers: { set: { 'X-Call': env.ref } } });
    });
    callback = await listen(http.createServer(), (req, _body, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      switch (userOf(url)) {
        case 'busy': return json(res, { action: 'respond', status: 486, reason: 'Busy Here' });
        case 'fwd': return json(res, { action: 'forward', targets: [{ uri: 'sip:1000@10.0.0.5' }] });
        case 'app': return json(res, { app: 'vm' });
        case 'ghost-app': return json(res, { app: 'ghost' });
        case 'url': return json(res, { url: `http://127.0.0.1:${handoffs.port}/decide` });
        case 'url-down': return json(res, { url: `http://127.0.0.1:${closedPort}/decide` });
        case 'slow': return void setTimeout(() => json(res, { action: 'respond', status: 486 }), 800);
        case 'err500': return json(res, { error: 'oops' }, 500);
        case 'redirect': res.writeHead(302, { location: `http://127.0.0.1:${handoffs.port}/` }); return void res.end();
        case 'garbage': return json(res, 'this is not json');
        case 'none': return json(res, { hello: 'world' });
        case 'invalid': return json(res, { action: 'respond', status: 99 });
        case 'huge': return json(res, { action: 'respond', status: 486, reason: 'x', content: 'x'.repeat(100_000) });
        default: return json(res, { action: 'respond', status: 404 });
      }
    });
    const cert = devCertificate();
    tls = await listen(https.createServer({ cert: cert.cert, key: cert.key }), (_req, _body, res) => json(res, { action: 'respond', status: 486 }));
    closedPort = await freeTcpPort();
    routr = await startRoutr({
      edge: { decisionTimeoutMs: 10_000 },
      host: {
        pluginsDir: packagePath('test', 'fixtures', 'plugins'),
        apps: [{ name: 'vm', token: APP_TOKEN }],
        processors: [{ ref: 'fallback', plugin: 'testkit', isFallback: true, config: { status: 299 } }],
        requestHandlers: [
          { method: 'INVITE', url: `http://127.0.0.1:${callback.port}/route?tenant=t1`, timeoutMs: 3000, headers: { Authorization: 'Bearer callback-secret' } },
          { method: 'INFO', url: `http://127.0.0.1:${callback.port}/route`, timeoutMs: 300 },
          { method: 'MESSAGE', url: `http://127.0.0.1:${closedPort}/route` },
          // The load test's: a machine busy with other tests must not turn it into a timeout test.
          { method: 'SUBSCRIBE', url: `http://127.0.0.1:${callback.port}/route`, timeoutMs: 5000, handoffTimeoutMs: 4000 },
          { method: 'OPTIONS', url: `https://127.0.0.1:${tls.port}/route` },
        ],
      },
    } as never, { logger });
    app = new App({ name: 'vm', token: APP_TOKEN, bus: routr.server.bus!, autoConnect: false });
    app.invite((req, res) => res.send(480, 'From The App', { 'X-Call': req.callId }));
    await app.connect();
    await waitFor(() => routr.server.apps!.directory.count('vm') === 1);
  });

  after(async () => {
    await app?.close();
    await routr?.stop();
    for (const s of [callback, handoffs, tls]) {
      s?.server.closeAllConnections();
      s?.server.close();
    }
  });

  const ask = (user: string, method = 'INVITE'): Promise<HostReply> => decide(routr.server.host!, envelope(method, `sip:${user}@127.0.0.1`));

  test('request handlers - the callback gets drachtio-style parameters and its configured headers', async () => {
    const before = callback.requests.length;
    await ask('busy');
    const got = callback.requests[before];
    assert.equal(got.method, 'GET');
    assert.equal(got.url.pathname, '/route');
    assert.deepEqual(Object.fromEntries(got.url.searchParams), {
      tenant: 't1', method: 'INVITE', callId: 'plugins-test@127.0.0.1', uri: 'sip:busy@127.0.0.1', from: 'sip:alice@127.0.0.1', to: 'sip:busy@127.0.0.1', source: '127.0.0.1:5099', transport: 'udp',
    });
    assert.equal(got.headers.authorization, 'Bearer callback-secret');
  });

  test('request handlers - a decision answer is used: respond and forward', async () => {
    assert.deepEqual(answered(await ask('busy')), { decision: { action: 'respond', status: 486, reason: 'Busy Here' }, processor: 'handler:INVITE' });
    assert.deepEqual(answered(await ask('fwd')), { decision: { action: 'forward', targets: [{ uri: 'sip:1000@10.0.0.5' }] }, processor: 'handler:INVITE' });
  });

  test('request handlers - {"app"} hands the request to that connected app; an unknown app is 503', async () => {
    assert.deepEqual(answered(await ask('app')), { decision: { action: 'respond', status: 480, reason: 'From The App', headers: { 'X-Call': 'plugins-test@127.0.0.1' } }, processor: 'handler:INVITE' });
    const ghost = await ask('ghost-app');
    assert.equal(statusOf(ghost), 503);
  });

  test('request handlers - {"url"} POSTs the envelope there and uses the decision it answers', async () => {
    const before = handoffs.requests.length;
    const reply = await ask('url');
    assert.deepEqual(answered(reply), { decision: { action: 'forward', targets: [{ uri: 'sip:handed@10.0.0.7' }], headers: { set: { 'X-Call': 'plugins-test@127.0.0.1' } } }, processor: 'handler:INVITE' });
    const posted = handoffs.requests[before];
    assert.equal(posted.method, 'POST');
    assert.equal(posted.headers['content-type'], 'application/json');
    assert.equal((JSON.parse(posted.body) as MessageEnvelope).message.uri, 'sip:url@127.0.0.1');
  });

  test('request handlers - a method with a handler never reaches the processors; one without does', async () => {
    assert.equal(statusOf(await ask('anyone', 'REGISTER')), 299, 'REGISTER has no handler: the fallback processor answers');
    assert.equal(statusOf(await ask('unknown-user')), 404, 'INVITE: the callback answers, not the processor');
  });

  for (const [user, method, outcome, what] of [
    ['slow', 'INFO', 'timeout', 'slower than timeoutMs'],
    ['err500', 'INVITE', 'status', 'HTTP 500'],
    ['redirect', 'INVITE', 'status', 'a redirect (not followed)'],
    ['garbage', 'INVITE', 'invalid', 'not JSON'],
    ['none', 'INVITE', 'invalid', 'JSON that fits no form'],
    ['invalid', 'INVITE', 'invalid', 'an invalid decision'],
    ['huge', 'INVITE', 'invalid', 'an answer over 64 KiB'],
    ['url-down', 'INVITE', 'down', 'a hand-off URL that is down'],
    ['any', 'MESSAGE', 'down', 'a callback that is down'],
    ['any', 'OPTIONS', 'down', 'an https callback whose certificate does not verify'],
  ] as const) {
    test(`request handlers - ${what}: 503 with Retry-After, counted as ${outcome}`, async () => {
      const label = method;
      const counted = await metricValue(routr.httpPort, 'routr_request_handler_calls_total', { handler: label, outcome });
      const started = Date.now();
      const reply = await ask(user, method);
      assert.equal(statusOf(reply), 503, JSON.stringify(reply));
      assert.ok('error' in reply && reply.error.headers?.['Retry-After'] === '5', JSON.stringify(reply));
      if (outcome === 'timeout') assert.ok(Date.now() - started < 700, 'given up at timeoutMs');
      assert.equal(await metricValue(routr.httpPort, 'routr_request_handler_calls_total', { handler: label, outcome }), counted + 1);
    });
  }

  test('request handlers - a kept-alive connection the callback closed under a request is asked again on a new one', async () => {
    // Each connection answers its first request (keep-alive) and drops on the second, as a server does whose
    // idle timeout fires just as the pooled connection is reused.
    let connections = 0;
    const flaky = net.createServer((socket) => {
      connections++;
      let requests = 0;
      socket.on('data', (chunk) => {
        if (!chunk.toString().includes('\r\n\r\n')) return;
        if (++requests > 1) return void socket.destroy();
        const body = JSON.stringify({ action: 'respond', status: 486 });
        socket.write(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: keep-alive\r\n\r\n${body}`);
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => flaky.listen(0, '127.0.0.1', () => resolve()));
    const port = (flaky.address() as AddressInfo).port;
    const local = await startRoutr({ host: { requestHandlers: [{ method: 'INVITE', url: `http://127.0.0.1:${port}/route` }] } } as never);
    try {
      for (let i = 0; i < 3; i++) assert.equal(statusOf(await decide(local.server.host!, envelope('INVITE', 'sip:1@127.0.0.1'))), 486, `request ${i + 1}`);
      assert.equal(connections, 3, 'each reuse found its connection closed and went on a new one');
    } finally {
      await local.stop();
      flaky.close();
    }
  });

  test('request handlers - {"url"} hand-offs under load: every request decided, one connection each, none left open', async () => {
    const before = { total: handoffs.total, requests: handoffs.requests.length };
    const requests = 400;
    const started = Date.now();
    let next = 0;
    const statuses: number[] = [];
    const failures: string[] = [];
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        while (next < requests) {
          next++;
          const reply = await ask('url', 'SUBSCRIBE');
          if (statusOf(reply) !== 0) failures.push(JSON.stringify(reply));
          statuses.push(statusOf(reply));
        }
      }),
    );
    assert.equal(statuses.length, requests);
    assert.deepEqual([...new Set(statuses)], [0], `every hand-off forwarded (${failures.length} not: ${warnings.slice(-3).join('\n')})`);
    assert.equal(handoffs.requests.length - before.requests, requests);
    process.stdout.write(`# ${requests} callback + hand-off decisions, 50 at a time, in ${Date.now() - started} ms\n`);
    assert.equal(handoffs.total - before.total, requests, 'one connection per hand-off, none reused or kept');
    await waitFor(() => handoffs.open.size === 0, { timeoutMs: 1000, what: 'hand-off connections to close' });
    await sleep(10);
    assert.equal(handoffs.open.size, 0);
  });
});
