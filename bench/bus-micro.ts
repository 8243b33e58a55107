/**
 * Bus micro-benchmark: request/reply latency (sequential, p50/p99) and throughput (64 requests in flight) for
 * MemoryBus and for NatsBus against a nats-server this script starts on a free port. Payload: 512 bytes, about
 * a serialized SIP INVITE envelope. Handler: echo, so we measure the bus, not routing. A last row runs the bare
 * nats.js client the same way, so the cost of our layer over it is visible (and machine load is not blamed
 * on it).
 *
 *   npx tsc -p . && node --no-node-snapshot dist/bench/bus-micro.js [--json]
 */
import { performance } from 'node:perf_hooks';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { MemoryBus, type Bus } from '../core/bus/index.js';
import { NatsBus } from '../core/bus/nats.js';
import { startNatsServer } from '../test/helpers/nats-server.js';

const SUBJECT = 'routr.v1.bench.echo';
const PAYLOAD = new Uint8Array(512).fill(0x61);
const WARMUP = 2_000;
const SEQUENTIAL = 10_000;
const CONCURRENT_TOTAL = 50_000;
const IN_FLIGHT = 64;

interface Result {
  bus: string;
  p50Ms: number;
  p99Ms: number;
  sequentialPerSec: number;
  concurrentPerSec: number;
}

async function sequential(bus: Bus, count: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await bus.request(SUBJECT, PAYLOAD, { timeoutMs: 2000 });
    samples.push(performance.now() - started);
  }
  return samples;
}

/** IN_FLIGHT workers, each sending its next request as soon as the previous reply arrives. */
async function concurrent(bus: Bus, total: number): Promise<number> {
  let remaining = total;
  const worker = async (): Promise<void> => {
    while (remaining-- > 0) await bus.request(SUBJECT, PAYLOAD, { timeoutMs: 5000 });
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return total / ((performance.now() - started) / 1000);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function measure(label: string, server: Bus, client: Bus): Promise<Result> {
  server.serve(SUBJECT, (payload) => payload, { queue: 'bench' });
  await server.flush();
  await sequential(client, WARMUP);
  const started = performance.now();
  const samples = (await sequential(client, SEQUENTIAL)).sort((a, b) => a - b);
  const sequentialPerSec = SEQUENTIAL / ((performance.now() - started) / 1000);
  const concurrentPerSec = await concurrent(client, CONCURRENT_TOTAL);
  return {
    bus: label,
    p50Ms: percentile(samples, 50),
    p99Ms: percentile(samples, 99),
    sequentialPerSec,
    concurrentPerSec,
  };
}

/** Just enough of Bus over a bare connection for `measure`: no validation, no error mapping, no tracking. */
function rawBus(nc: NatsConnection): Bus {
  const partial: Pick<Bus, 'serve' | 'flush' | 'request'> = {
    serve: (subject, handler, options) => {
      nc.subscribe(subject, {
        queue: options?.queue,
        callback: (_err, msg) => {
          msg.respond(handler(msg.data, msg.subject) as Uint8Array);
        },
      });
      return { subject, drain: async () => undefined };
    },
    flush: () => nc.flush(),
    request: async (subject, payload, options) => (await nc.request(subject, payload, { timeout: options.timeoutMs })).data,
  };
  return partial as Bus;
}

async function main(): Promise<void> {
  const results: Result[] = [];

  const memory = new MemoryBus();
  results.push(await measure('memory', memory, memory));
  await memory.close();

  const nats = await startNatsServer();
  try {
    // Two connections, like an edge and a host in different processes (same process here: one event loop).
    const host = await NatsBus.connect(nats.url, { name: 'bench-host' });
    const edge = await NatsBus.connect(nats.url, { name: 'bench-edge' });
    results.push(await measure('nats (2 connections)', host, edge));
    await Promise.all([host.close(), edge.close()]);
    const rawHost = await connect({ servers: nats.url });
    const rawEdge = await connect({ servers: nats.url });
    results.push(await measure('bare nats.js client', rawBus(rawHost), rawBus(rawEdge)));
    await Promise.all([rawHost.close(), rawEdge.close()]);
  } finally {
    await nats.stop();
  }

  if (process.argv.includes('--json')) {
    process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
    return;
  }
  const rows = results.map(
    (r) =>
      `${r.bus.padEnd(22)} p50 ${r.p50Ms.toFixed(3)} ms  p99 ${r.p99Ms.toFixed(3)} ms  ` +
      `sequential ${Math.round(r.sequentialPerSec)} req/s  ${IN_FLIGHT} in flight ${Math.round(r.concurrentPerSec)} req/s`,
  );
  process.stdout.write(`bus request/reply, ${PAYLOAD.length}-byte payload, echo handler\n${rows.join('\n')}\n`);
}

await main();
