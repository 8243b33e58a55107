/**
 * Micro-benchmark of the sandbox engine: what one boundary crossing costs with a realistic argument (a ~1.5 KB
 * JSON envelope) and a small JSON result, for callSync (router matchFuncs) and call (processors, sequential and
 * with many in flight), what a sync capability costs from each, and how long create() takes.
 *
 *   npx tsc -p . && node --no-node-snapshot dist/bench/sandbox-micro.js
 *   BENCH_ENGINE=quickjs node dist/bench/sandbox-micro.js      (auto | isolated-vm | quickjs; default auto)
 *   bun dist/bench/sandbox-micro.js  ·  deno run -A dist/bench/sandbox-micro.js   (auto is quickjs there)
 */
import { currentRuntime } from '../core/runtime/detect.js';
import { createEngine, type SandboxEngineChoice } from '../sandbox/index.js';
import type { Sandbox } from '../sandbox/types.js';

const ENVELOPE = JSON.stringify({
  ref: 'a84b4c76e66710@pc33.atlanta.example.com',
  edgeRef: 'edge-01',
  method: 'INVITE',
  sender: { host: '192.0.2.10', port: 5060, transport: 'udp' },
  listeningPoints: [{ host: '198.51.100.1', port: 5060, transport: 'udp' }],
  advertisedAddrs: ['198.51.100.1'],
  localnets: ['10.0.0.0/8', '192.168.0.0/16'],
  message: {
    method: 'INVITE',
    uri: 'sip:bob@biloxi.example.com',
    version: '2.0',
    headers: {
      via: [{ version: '2.0', protocol: 'UDP', host: 'pc33.atlanta.example.com', params: { branch: 'z9hG4bK776asdhds', rport: null } }],
      'max-forwards': 70,
      to: { name: 'Bob', uri: 'sip:bob@biloxi.example.com', params: {} },
      from: { name: 'Alice', uri: 'sip:alice@atlanta.example.com', params: { tag: '1928301774' } },
      'call-id': 'a84b4c76e66710@pc33.atlanta.example.com',
      cseq: { seq: 314159, method: 'INVITE' },
      contact: [{ uri: 'sip:alice@pc33.atlanta.example.com', params: {} }],
      'content-type': 'application/sdp',
      'user-agent': 'routr-bench/1.0',
      allow: 'INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, SUBSCRIBE, INFO',
    },
    content: 'v=0\r\no=alice 2890844526 2890844526 IN IP4 pc33.atlanta.example.com\r\ns=-\r\nc=IN IP4 192.0.2.101\r\nt=0 0\r\nm=audio 49172 RTP/AVP 0 8 97\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:97 iLBC/8000\r\n',
  },
  metadata: { accountRef: 'acc-123', domainRef: 'domain-biloxi', trunkRef: null, numberRef: 'num-42' },
});

const SOURCE = `
  export function match(envelope) { return envelope.method === 'INVITE' && envelope.message.uri.startsWith('sip:bob') ? 1 : -1; }
  export async function decide(envelope) {
    return { action: 'forward', target: { host: '10.0.0.5', port: 5060, transport: envelope.sender.transport }, ref: envelope.ref };
  }
  export function logOnce() { routr.log.info('x'); return 1; }
  export function noop() { return 1; }
`;

const limits = { timeoutMs: 1000, memoryMb: 64 };

function perCall(label: string, totalMs: number, count: number): void {
  process.stdout.write(`${label.padEnd(56)} ${((totalMs * 1000) / count).toFixed(2).padStart(9)} µs/call  (${count} calls, best of 3)\n`);
}

/** Best of three runs: on a shared machine the minimum is the least noisy estimate of the cost itself. */
async function best(run: () => Promise<number> | number): Promise<number> {
  const runs = [await run(), await run(), await run()];
  return Math.min(...runs);
}

async function timeAsync(count: number, once: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < count; i++) await once();
  return performance.now() - started;
}

function timeSync(count: number, once: () => unknown): number {
  const started = performance.now();
  for (let i = 0; i < count; i++) once();
  return performance.now() - started;
}

async function inFlight(sandbox: Sandbox, count: number, width: number): Promise<number> {
  const started = performance.now();
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next++ < count) await sandbox.call('decide', ENVELOPE);
  };
  await Promise.all(Array.from({ length: width }, lane));
  return performance.now() - started;
}

async function main(): Promise<void> {
  const engine = createEngine({ engine: (process.env.BENCH_ENGINE || 'auto') as SandboxEngineChoice });
  const runtime = currentRuntime();
  process.stdout.write(`sandbox micro-benchmark — ${engine.name}, ${runtime.name} ${runtime.version}, argument ${ENVELOPE.length} bytes\n\n`);

  const creates: number[] = [];
  for (let i = 0; i < 30; i++) {
    const started = performance.now();
    const sandbox = await engine.create({ name: `bench-${i}`, source: SOURCE, limits, capabilities: { 'log.info': { fn: () => undefined } } });
    creates.push(performance.now() - started);
    sandbox.dispose();
  }
  creates.sort((a, b) => a - b);
  process.stdout.write(`${'create() median / p90'.padEnd(52)} ${creates[15]?.toFixed(2).padStart(9)} ms  / ${creates[27]?.toFixed(2)} ms\n`);

  const sandbox = await engine.create({ name: 'bench', source: SOURCE, limits, capabilities: { 'log.info': { fn: () => undefined } } });

  // Warm up both paths so the JIT on both sides has settled.
  timeSync(5000, () => sandbox.callSync('match', ENVELOPE));
  await timeAsync(2000, () => sandbox.call('decide', ENVELOPE));

  const n = 20000;
  perCall('host only: JSON.parse + JSON.stringify of the argument', await best(() => timeSync(n, () => JSON.stringify(JSON.parse(ENVELOPE)))), n);
  perCall('callSync, "null" in, "1" out (the crossing alone)', await best(() => timeSync(n, () => sandbox.callSync('noop', 'null'))), n);
  perCall('callSync, envelope in, "1" out (router matchFunc)', await best(() => timeSync(n, () => sandbox.callSync('match', ENVELOPE))), n);
  perCall('call, one at a time, envelope in, ~120 B out', await best(() => timeAsync(n / 4, () => sandbox.call('decide', ENVELOPE))), n / 4);
  perCall('call, 64 in flight (throughput per call)', await best(() => inFlight(sandbox, n, 64)), n);
  const syncLog = (await best(() => timeSync(n, () => sandbox.callSync('logOnce', 'null')))) - (await best(() => timeSync(n, () => sandbox.callSync('noop', 'null'))));
  perCall('+ one sync capability call inside callSync', syncLog, n);
  const asyncLog = (await best(() => timeAsync(2000, () => sandbox.call('logOnce', 'null')))) - (await best(() => timeAsync(2000, () => sandbox.call('noop', 'null'))));
  perCall('+ one sync capability call inside call', asyncLog, 2000);
  process.stdout.write(`\nstats: ${JSON.stringify(sandbox.stats)}\n`);
  sandbox.dispose();
  engine.disposeAll();
}

await main();
