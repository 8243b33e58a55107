/**
 * `npm run bench:apps`: what an app hop and a web callback add to a request's decision. It starts a
 * nats-server, a host process, the example app (examples/apps/busy.js) and the example web callback
 * (examples/apps/web-callback.js) as processes of their own, then asks the host for decisions over NATS as an
 * edge does (`routr.v1.process`), timing each round trip:
 *
 *   MESSAGE  the built-in static plugin (in the host's sandbox): the baseline
 *   INVITE   a processor entry naming the app: host → NATS → app → NATS → host
 *   OPTIONS  a request handler whose callback answers a decision (HTTP GET, kept-alive connection)
 *   INFO     a request handler whose callback answers {"url"}: GET, then a POST on a connection of its own
 *
 * Each is measured one request at a time (latency alone) and 16 in flight (under load). Prints p50 and p99 in
 * milliseconds and the rate reached. Environment: BENCH_REQUESTS (per run, default 3000).
 */
import { connectNatsBus } from '../core/bus/index.js';
import { PROCESS_SUBJECT } from '../core/bus/subjects.js';
import type { HostReply } from '../core/envelope.js';
import { parseMessage } from '../core/sip/index.js';
import { APP_TOKEN, spawnApp } from '../test/helpers/apps.js';
import { startNatsServer } from '../test/helpers/nats-server.js';
import { freeTcpPort, spawnRoutr, testConfig } from '../test/helpers/routr.js';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 3000);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function envelope(method: string, user: string, n: number): Uint8Array {
  const text = [
    `${method} sip:${user}@127.0.0.1:5060 SIP/2.0`,
    `Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-bench-${n};rport`,
    'Max-Forwards: 70',
    'From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774',
    `To: <sip:${user}@127.0.0.1:5060>`,
    `Call-ID: bench-${n}@pc33.atlanta.example.com`,
    `CSeq: 1 ${method}`,
    'Contact: <sip:alice@192.0.2.10:5060>',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  const parsed = parseMessage(encoder.encode(text), { datagram: true });
  if (!parsed.ok) throw new Error('bench request does not parse');
  const local = { host: '127.0.0.1', port: 5060, transport: 'udp' };
  return encoder.encode(JSON.stringify({ method, ref: `bench-${n}`, edgeRef: 'bench', sender: { host: '192.0.2.10', port: 5060, transport: 'udp' }, receivedOn: local, listeningPoints: [local], advertisedAddrs: [], localnets: [], message: parsed.message, metadata: {} }));
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function main(): Promise<void> {
  const nats = await startNatsServer();
  const port = await freeTcpPort();
  const callback = await spawnApp('web-callback', { PORT: String(port), BUSY_DIDS: '486', FORWARD_TO: 'sip:127.0.0.1:5070' }, { waitConnected: false });
  await callback.saw('listening');
  const app = await spawnApp('busy', { NATS_URL: nats.url, ROUTR_APP_TOKEN: APP_TOKEN });
  const host = await spawnRoutr(
    await testConfig({
      bus: { url: nats.url },
      host: {
        apps: [{ name: 'busy', token: APP_TOKEN }],
        processors: [
          { ref: 'static', methods: ['MESSAGE'], config: { routes: [{ user: '.+', target: 'sip:127.0.0.1:5070' }] } },
          { ref: 'busy', app: 'busy', methods: ['INVITE'] },
        ],
        requestHandlers: [
          { method: 'OPTIONS', url: `http://127.0.0.1:${port}/route` },
          { method: 'INFO', url: `http://127.0.0.1:${port}/route` },
        ],
      },
    } as never),
    { role: 'host' },
  );
  const bus = await connectNatsBus(nats.url, { name: 'routr-bench-apps' });
  const runs = [
    { what: 'static plugin (baseline)', method: 'MESSAGE', user: '1000', expect: 'forward' },
    { what: 'app over NATS', method: 'INVITE', user: '1000', expect: 'respond' },
    { what: 'web callback, decision', method: 'OPTIONS', user: '486', expect: 'respond' },
    { what: 'web callback, {url} hand-off', method: 'INFO', user: '3000', expect: 'forward' },
  ];
  let n = 0;
  const ask = async (method: string, user: string, expect: string): Promise<number> => {
    const started = performance.now();
    const reply = JSON.parse(decoder.decode(await bus.request(PROCESS_SUBJECT, envelope(method, user, ++n), { timeoutMs: 5000 }))) as HostReply;
    const took = performance.now() - started;
    if (!('decision' in reply) || reply.decision.action !== expect) throw new Error(`${method}: unexpected reply ${JSON.stringify(reply)}`);
    return took;
  };
  const rows: string[] = [];
  try {
    for (const run of runs) {
      for (let i = 0; i < 300; i++) await ask(run.method, run.user, run.expect);
      for (const inFlight of [1, 16]) {
        const times: number[] = [];
        let next = 0;
        const started = performance.now();
        await Promise.all(
          Array.from({ length: inFlight }, async () => {
            while (next++ < REQUESTS) times.push(await ask(run.method, run.user, run.expect));
          }),
        );
        const seconds = (performance.now() - started) / 1000;
        times.sort((a, b) => a - b);
        const row = `${run.what.padEnd(30)} in flight ${String(inFlight).padStart(2)}  p50 ${percentile(times, 50).toFixed(2)} ms  p99 ${percentile(times, 99).toFixed(2)} ms  ${Math.round(times.length / seconds)} req/s`;
        rows.push(row);
        process.stdout.write(`${row}\n`);
      }
    }
  } finally {
    await bus.close();
    await host.stop();
    await Promise.all([app.stop(), callback.stop()]);
    await nats.stop();
  }
}

await main();
