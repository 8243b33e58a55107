/**
 * `npm run bench`: a sipp rate ladder through routr over NATS. It starts its own nats-server, an edge process
 * and a host process (the production shape for two cores), and a sipp UAS; then for each rate it places
 * calls with a sipp UAC for a few seconds. A step is clean when no call failed and sipp kept up with the rate.
 * The last line is `max_clean_cps=N p50_ms=X p99_ms=Y` (response times INVITE → 200 at the highest clean rate,
 * sipp's millisecond resolution).
 *
 * Environment: BENCH_RATES (comma list), BENCH_SECONDS (per step, default 8), BENCH_EMBEDDED=1 (one process,
 * in-process bus, instead of NATS), BENCH_PROCESSOR=connect (Agent 1001 calls a number through the Connect
 * processor: 407 digest challenge, authenticated INVITE, egress rule → Number → Trunk → the UAS; each call is two
 * INVITE transactions, an INFO and a BYE) instead of the static processor (INVITE, ACK, BYE).
 * BENCH_TRACE_MAX_BYTES sets the edge's trace ring cap (spec.edge.trace.maxBytes; BENCH_TRACE=0 turns the ring
 * off); after each step the edge's ring size and resident memory are printed (`trace_bytes=… edge_rss_mb=…`).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeSipPort, spawnRoutr, testConfig, type SpawnedRoutr } from '../test/helpers/routr.js';
import { runSipp, type SippResult } from '../test/helpers/sipp.js';
import { startNatsServer } from '../test/helpers/nats-server.js';

const rates = (process.env.BENCH_RATES ?? '250,500,750,1000,1250,1500,1750,2000,2500,3000,3500').split(',').map(Number);
const seconds = Number(process.env.BENCH_SECONDS ?? 8);
const embedded = process.env.BENCH_EMBEDDED === '1';
const connect = process.env.BENCH_PROCESSOR === 'connect';
const trace = { enabled: process.env.BENCH_TRACE !== '0', ...(process.env.BENCH_TRACE_MAX_BYTES ? { maxBytes: Number(process.env.BENCH_TRACE_MAX_BYTES) } : {}) };

/** A gauge of the edge's /metrics (summed over labels). */
async function gauge(httpPort: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `)).reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

/** Resources for the Connect mode: Agent 1001 of sip.local, numbers leaving through a Trunk to the UAS. */
function connectResources(uasPort: number): string {
  return `
- { apiVersion: v2beta1, kind: Domain, ref: d, spec: { context: { domainUri: sip.local, egressPolicies: [{ rule: '^\\+?[0-9]+$', numberRef: n }] } } }
- { apiVersion: v2beta1, kind: Credentials, ref: c, spec: { credentials: { username: "1001", password: "1234" } } }
- { apiVersion: v2beta1, kind: Agent, ref: a, spec: { username: "1001", domainRef: d, credentialsRef: c } }
- { apiVersion: v2beta1, kind: Number, ref: n, spec: { trunkRef: t, location: { telUrl: "tel:+19103434434" } } }
- { apiVersion: v2beta1, kind: Trunk, ref: t, spec: { inbound: { uri: carrier.invalid }, outbound: { uris: [{ uri: { host: 127.0.0.1, port: ${uasPort} } }] } } }
`;
}

interface Step {
  rate: number;
  calls: number;
  successful: number;
  failed: number;
  achieved: number;
  p50: number;
  p99: number;
  clean: boolean;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function main(): Promise<void> {
  const nats = embedded ? undefined : await startNatsServer({ jetstream: connect });
  const uasPort = await freeSipPort();
  const uas = runSipp({ scenario: connect ? 'connect-uas-answer-200.xml' : 'uas-answer-200.xml', localPort: uasPort, args: ['-buff_size', '16777216'] });
  await new Promise((r) => setTimeout(r, 300));
  const resourcesDir = connect ? mkdtempSync(join(tmpdir(), 'routr-bench-')) : undefined;
  if (resourcesDir) writeFileSync(join(resourcesDir, 'resources.yaml'), connectResources(uasPort));
  const processors = connect
    ? [{ ref: 'connect', isFallback: true, config: { algorithms: ['MD5'] } }]
    : [{ ref: 'static', isFallback: true, config: { routes: [{ user: '.+', target: `sip:127.0.0.1:${uasPort}` }] } }];
  const resources = resourcesDir ? { provider: 'files' as const, path: resourcesDir } : undefined;
  const logging = { level: 'warn' };
  const processes: SpawnedRoutr[] = [];
  let edgePort: number;
  let edgeHttp: number;
  if (nats) {
    const bus = { url: nats.url };
    processes.push(await spawnRoutr(await testConfig({ bus, host: { processors }, logging, resources }), { role: 'host' }));
    const edge = await spawnRoutr(await testConfig({ bus, logging, edge: { trace } }), { role: 'edge' });
    processes.push(edge);
    edgePort = edge.sipPort;
    edgeHttp = edge.httpPort;
  } else {
    const all = await spawnRoutr(await testConfig({ host: { processors }, logging, resources, edge: { trace } }), { role: 'all' });
    processes.push(all);
    edgePort = all.sipPort;
    edgeHttp = all.httpPort;
  }
  process.stdout.write(`routr bench: ${connect ? 'connect (authenticated agent-to-pstn)' : 'static'} processor, ${nats ? 'edge and host processes over NATS' : 'one process, in-process bus'}, ${seconds} s per step\n`);
  process.stdout.write('rate    calls  ok     failed achieved p50_ms p99_ms\n');
  const steps: Step[] = [];
  try {
    for (const rate of rates) {
      const calls = rate * seconds;
      const started = Date.now();
      // No -auth_uri: sipp's digest uri is then routr's own address, which routr accepts (a uri naming another
      // target is refused).
      const connectArgs = ['-key', 'caller', '1001', '-key', 'from_host', 'sip.local', '-key', 'to_host', 'sip.local', '-key', 'extra_header', 'X-Bench: 1', '-au', '1001', '-ap', '1234'];
      const result: SippResult = await runSipp({
        scenario: connect ? 'connect-auth-call-expect-200.xml' : 'uac-expect-200.xml',
        remote: `127.0.0.1:${edgePort}`,
        service: connect ? '+15551234567' : '1000',
        calls,
        rate,
        limit: Math.max(200, rate * 2),
        timeoutSeconds: seconds * 4 + 30,
        traceRtt: true,
        args: ['-d', '0', '-buff_size', '16777216', ...(connect ? connectArgs : [])],
      }).result;
      const sorted = [...result.rtt].sort((a, b) => a - b);
      // sipp's own cumulative call rate: what it really offered (wall time would count its start and tail).
      const achieved = result.callRate || result.successful / ((Date.now() - started) / 1000);
      const clean = result.failed === 0 && result.successful === calls && achieved >= rate * 0.9;
      const step: Step = { rate, calls, successful: result.successful, failed: result.failed, achieved, p50: percentile(sorted, 50), p99: percentile(sorted, 99), clean };
      steps.push(step);
      process.stdout.write(
        `${String(rate).padEnd(8)}${String(calls).padEnd(7)}${String(step.successful).padEnd(7)}${String(step.failed).padEnd(7)}${achieved.toFixed(0).padEnd(9)}${String(step.p50).padEnd(7)}${String(step.p99).padEnd(7)}${clean ? '' : ' (not clean)'}\n`,
      );
      const [traceBytes, traceCalls, rss] = await Promise.all([gauge(edgeHttp, 'routr_trace_bytes'), gauge(edgeHttp, 'routr_trace_calls'), gauge(edgeHttp, 'routr_process_resident_memory_bytes')]);
      process.stdout.write(`        trace_bytes=${traceBytes} trace_calls=${traceCalls} edge_rss_mb=${(rss / 1048576).toFixed(0)}\n`);
      if (!clean) {
        if (result.successful === 0) process.stdout.write(`sipp exit ${result.code}: ${result.stderr.trim().slice(-600)}\n${result.errors.slice(0, 600)}\n`);
        break;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    await Promise.all(processes.map((p) => p.stop()));
    uas.kill();
    await uas.result;
    await nats?.stop();
    if (resourcesDir) rmSync(resourcesDir, { recursive: true, force: true });
  }
  const best = [...steps].reverse().find((s) => s.clean);
  process.stdout.write(`max_clean_cps=${best?.rate ?? 0} p50_ms=${best?.p50 ?? 'NaN'} p99_ms=${best?.p99 ?? 'NaN'}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
