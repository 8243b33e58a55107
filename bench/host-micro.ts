/**
 * Micro-benchmark of a processor host's per-request path (`decide()`, no bus): the built-in static processor
 * alone, with a matchFunc in front of it, and with one pre and one post middleware. It shows what routing,
 * the circuit-breaker bookkeeping and middlewares cost per request on top of the sandbox call itself.
 *
 *   npx tsc -p . && node --no-node-snapshot dist/bench/host-micro.js
 */
import { parseServerConfig } from '../core/config/server.js';
import { ProcessorHost } from '../core/host/host.js';
import { silentLogger } from '../core/log.js';
import { Metrics } from '../core/metrics.js';
import { packagePath } from '../core/paths.js';
import { parseMessage } from '../core/sip/index.js';
import { createEngine } from '../sandbox/index.js';

const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 20000);
const ROUNDS = 5;

function envelopeJson(): string {
  const text = [
    'INVITE sip:1001@127.0.0.1:5060 SIP/2.0',
    'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport',
    'Max-Forwards: 70',
    'From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774',
    'To: <sip:1001@127.0.0.1:5060>',
    'Call-ID: a84b4c76e66710@pc33.atlanta.example.com',
    'CSeq: 314159 INVITE',
    'Contact: <sip:alice@192.0.2.10:5060>',
    'User-Agent: routr-bench/1.0',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  const parsed = parseMessage(Buffer.from(text), { datagram: true });
  if (!parsed.ok) throw new Error('bench request does not parse');
  const local = { host: '127.0.0.1', port: 5060, transport: 'udp' };
  return JSON.stringify({ method: 'INVITE', ref: 'a84b4c76e66710', edgeRef: 'edge-01', sender: { host: '192.0.2.10', port: 5060, transport: 'udp' }, receivedOn: local, listeningPoints: [local], advertisedAddrs: [], localnets: [], message: parsed.message, metadata: {} });
}

async function measure(name: string, host: Record<string, unknown>): Promise<void> {
  const config = parseServerConfig({ apiVersion: 'v2beta1', kind: 'Server', ref: 'bench', spec: { host: { pluginsDir: packagePath('test', 'fixtures', 'plugins'), ...host } } });
  const processor = await ProcessorHost.create({ config: config.spec.host, engine: createEngine(), logger: silentLogger(), metrics: new Metrics() });
  const json = envelopeJson();
  for (let i = 0; i < 2000; i++) await processor.decide(json);
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < ITERATIONS; i++) await processor.decide(json);
    rounds.push(Number(process.hrtime.bigint() - start) / 1000 / ITERATIONS);
  }
  rounds.sort((a, b) => a - b);
  process.stdout.write(`${name.padEnd(40)} median ${rounds[ROUNDS >> 1].toFixed(2)} µs/request (best ${rounds[0].toFixed(2)})\n`);
  processor.dispose();
}

const routes = { routes: [{ user: '.+', target: 'sip:127.0.0.1:5070' }] };
await measure('static, no middleware', { processors: [{ ref: 'static', isFallback: true, config: routes }] });
await measure('matchFunc + static', { processors: [{ ref: 'static', matchFunc: "req => req.method === 'INVITE'", config: routes }] });
await measure('static + pre and post middleware', {
  processors: [{ ref: 'static', isFallback: true, config: routes }],
  middlewares: [
    { ref: 'pre', plugin: 'mw-kit', stage: 'pre' },
    { ref: 'post', plugin: 'mw-kit', stage: 'post' },
  ],
});
