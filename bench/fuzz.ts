/**
 * `npm run fuzz`: the codec and framing fuzz target (test/fuzz/codec-target.ts) at length, then the network
 * fuzz (test/fuzz/network.ts) against a live edge in its own process. Prints, and fails (exit 1) on, a crash (a
 * property that failed, with fast-check's shrunk counterexample), a hang (an input that took more than
 * FUZZ_HANG_MS, default 1000 ms), an edge that stopped answering OPTIONS, or RSS out of bounds.
 *
 * Environment: FUZZ_RUNS (datagram inputs, default 1,000,000; a fifth as many stream inputs), FUZZ_SEED,
 * FUZZ_NET_DATAGRAMS (default 50,000), FUZZ_NET_CONNECTIONS (default 2,000).
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { packagePath } from '../core/paths.js';
import { checkDatagram, checkStream, messageArb, SEEDS, streamArb } from '../test/fuzz/codec-target.js';
import { fuzzEdge } from '../test/fuzz/network.js';
import { spawnRoutr, testConfig } from '../test/helpers/routr.js';
import { requestText, TestUA } from '../test/helpers/ua.js';

const runs = Number(process.env.FUZZ_RUNS ?? 1_000_000);
const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
const hangMs = Number(process.env.FUZZ_HANG_MS ?? 1000);
const netDatagrams = Number(process.env.FUZZ_NET_DATAGRAMS ?? 50_000);
const netConnections = Number(process.env.FUZZ_NET_CONNECTIONS ?? 2000);

const mib = (bytes: number) => Math.round(bytes / 1048576);

interface Timing {
  max: number;
  slow: number;
  hangs: number;
  count: number;
}

function timed<T>(timing: Timing, check: (input: T) => void): (input: T) => void {
  return (input) => {
    const started = performance.now();
    check(input);
    const took = performance.now() - started;
    timing.count++;
    if (took > timing.max) timing.max = took;
    if (took > 100) timing.slow++;
    if (took > hangMs) timing.hangs++;
    if (timing.count % 100_000 === 0) process.stdout.write(`  ${timing.count} inputs, rss ${mib(process.memoryUsage().rss)} MiB\n`);
  };
}

function run(name: string, property: fc.IProperty<[unknown]>, numRuns: number, timing: Timing): boolean {
  const started = Date.now();
  const rssBefore = process.memoryUsage().rss;
  const details = fc.check(property, { numRuns, seed });
  const seconds = (Date.now() - started) / 1000;
  process.stdout.write(
    `${name}: ${timing.count} inputs in ${seconds.toFixed(0)} s, ${details.failed ? 'FAILED' : '0 crashes'}, ${timing.hangs} hangs (> ${hangMs} ms), ` +
      `slowest ${timing.max.toFixed(1)} ms, ${timing.slow} over 100 ms, rss ${mib(rssBefore)} → ${mib(process.memoryUsage().rss)} MiB\n`,
  );
  if (details.failed) process.stdout.write(`  counterexample (seed ${seed}, path ${details.counterexamplePath}): ${String(details.errorInstance).slice(0, 2000)}\n`);
  return !details.failed && timing.hangs === 0;
}

function rssOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Math.round(Number(line?.match(/(\d+)/)?.[1] ?? 0) / 1024);
}

async function main(): Promise<void> {
  process.stdout.write(`routr fuzz: ${SEEDS.length} seeds (RFC 4475, RFC 5118, call flows), seed ${seed}\n`);
  const datagrams: Timing = { max: 0, slow: 0, hangs: 0, count: 0 };
  const streams: Timing = { max: 0, slow: 0, hangs: 0, count: 0 };
  let ok = run('codec (datagram and stream parse, round trip, answers)', fc.property(messageArb, timed(datagrams, checkDatagram)) as fc.IProperty<[unknown]>, runs, datagrams);
  ok = run('framing (chunking, octet accounting)', fc.property(streamArb, timed(streams, ([m, c]: [Buffer[], number[]]) => checkStream(m, c))) as fc.IProperty<[unknown]>, Math.ceil(runs / 5), streams) && ok;

  const routr = await spawnRoutr(
    await testConfig({ host: { pluginsDir: packagePath('test', 'fixtures', 'plugins'), processors: [{ ref: 'kit', plugin: 'testkit', isFallback: true, config: { status: 200 } }] }, logging: { level: 'error' } }),
  );
  try {
    const pid = routr.child.pid!;
    const rssBefore = rssOf(pid);
    const started = Date.now();
    const sent = await fuzzEdge({ host: '127.0.0.1', port: routr.sipPort }, { datagrams: netDatagrams, connections: netConnections, seed });
    await new Promise((r) => setTimeout(r, 2000));
    const udp = await TestUA.udp();
    udp.send(requestText({ method: 'OPTIONS', uri: 'sip:alive@127.0.0.1', ua: udp }), { host: '127.0.0.1', port: routr.sipPort });
    const udpAlive = await udp.waitForResponse(200, 'OPTIONS', 5000).then(() => true, () => false);
    await udp.close();
    const tcp = await TestUA.tcp({ host: '127.0.0.1', port: routr.sipPort });
    tcp.send(requestText({ method: 'OPTIONS', uri: 'sip:alive@127.0.0.1', ua: tcp }));
    const tcpAlive = await tcp.waitForResponse(200, 'OPTIONS', 5000).then(() => true, () => false);
    await tcp.close();
    const alive = routr.child.exitCode === null;
    process.stdout.write(
      `network: ${sent.datagrams} datagrams and ${sent.connections} TCP connections (${sent.streamMessages} messages) in ${((Date.now() - started) / 1000).toFixed(0)} s; ` +
        `edge ${alive ? 'alive' : 'DEAD'}, OPTIONS over UDP ${udpAlive ? 'answered' : 'NOT answered'}, over TCP ${tcpAlive ? 'answered' : 'NOT answered'}; edge rss ${rssBefore} → ${rssOf(pid)} MiB\n`,
    );
    ok = ok && alive && udpAlive && tcpAlive;
  } finally {
    await routr.stop();
  }
  process.stdout.write(`fuzz ${ok ? 'passed' : 'FAILED'}\n`);
  process.exit(ok ? 0 : 1);
}

main().catch((err: unknown) => {
  process.stderr.write(`fuzz failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
