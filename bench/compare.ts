/**
 * `npm run bench:compare`: routr beside Kamailio on the same machine, in one run, under the same sipp load — an
 * authenticated agent-to-agent call (INVITE → 407 → ACK → INVITE with credentials → 100/180/200 → ACK → BYE →
 * 200) with a registrar lookup and Record-Route, over UDP, sipp caller and callee on this machine. For each server:
 * the callee (1002) registers with digest from the port its sipp UAS then answers on, and a sipp UAC (1001) climbs a
 * rate ladder, BENCH_SECONDS (10) a step. A step is clean when no call failed, ≥ 99.9 % of the calls completed and
 * sipp kept the rate (≥ 95 %); between the last clean step and the first that was not, the ladder bisects twice.
 * Then one step at 50 % of the clean rate. The last line is `kamailio=N routr=M ratio=R`.
 *
 * Environment: BENCH_TARGETS (default kamailio,routr; also routr-nats — edge and host processes over a
 * nats-server — and static, the static processor with INVITE/ACK/BYE), BENCH_RATES (the ladder's coarse steps),
 * BENCH_SECONDS, BENCH_FIXED=<rate> (one step at that rate per target, no ladder: for profiling), BENCH_PROFILE=<dir>
 * (routr under --cpu-prof, profiles there), BENCH_WORKERS=<n> (routr's spec.edge.workers and spec.host.workers),
 * BENCH_TRACE=0 (routr's trace ring off), BENCH_STORM=<n> (the registration storm instead: n distinct AORs
 * register with digest, rate ladder over distinct slices, then routr's RSS per binding).
 *
 * Run it alone on the machine (flock /work/coord/bench.lock, load average below 1): the figures are what two
 * cores give when nothing else runs.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { packagePath } from '../core/paths.js';
import { freeSipPort } from '../test/helpers/routr.js';
import { killAllSipp, runSipp, type SippProcess, type SippResult } from '../test/helpers/sipp.js';
import { CALLEE, CALLER, killAll, startTarget, TARGETS, type RunningServer, type TargetName, type User } from './compare-servers.js';
import { cpuSeconds } from './cpu.js';

const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const targets = (process.env.BENCH_TARGETS ?? 'kamailio,routr').split(',').map((t) => t.trim()) as TargetName[];
const coarse = (process.env.BENCH_RATES ?? '250,500,750,1000,1500,2000,2500,3000,3500,4000').split(',').map(Number);
const fixed = process.env.BENCH_FIXED ? Number(process.env.BENCH_FIXED) : undefined;
const profileDir = process.env.BENCH_PROFILE || undefined;
const workers = process.env.BENCH_WORKERS ? { edge: Number(process.env.BENCH_WORKERS), host: Number(process.env.BENCH_WORKERS) } : undefined;
const trace = process.env.BENCH_TRACE !== '0';
const storm = process.env.BENCH_STORM ? Number(process.env.BENCH_STORM) : undefined;

const scenario = (name: string) => packagePath('bench', 'scenarios', name);

interface Step {
  rate: number;
  calls: number;
  successful: number;
  failed: number;
  achieved: number;
  retransmissions: number;
  p50: number;
  p99: number;
  /** CPU seconds the server's processes used during the step, per call, in ms. */
  cpuMsPerCall: number;
  clean: boolean;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function usersFile(dir: string, name: string, users: User[]): string {
  const file = join(dir, name);
  writeFileSync(file, `SEQUENTIAL\n${users.map((u) => `${u.username};[authentication username=${u.username} password=${u.password}];`).join('\n')}\n`);
  return file;
}

function log(line: string): void {
  process.stdout.write(line + '\n');
}

/** One sipp run at `rate` for `seconds`: calls, or registrations of `users` when given. */
async function step(server: RunningServer, rate: number, at: { uasPort: number; dir: string; users?: User[] }): Promise<Step> {
  const calls = at.users ? at.users.length : Math.round(rate * seconds);
  const pids = server.pids();
  const cpuBefore = cpuSeconds(pids);
  const started = Date.now();
  const common = { remote: `127.0.0.1:${server.sipPort}`, calls, rate, limit: Math.max(200, rate * 2), timeoutSeconds: seconds * 2 + 15, traceRtt: true };
  const statEverySecond = ['-fd', '1'];
  const sipp: SippProcess = at.users
    ? runSipp({ ...common, scenario: scenario('register-expect-200.xml'), args: ['-inf', usersFile(at.dir, `storm-${started}.csv`, at.users), '-buff_size', '16777216', ...statEverySecond] })
    : server.name === 'static'
      ? runSipp({ ...common, scenario: 'uac-expect-200.xml', service: '1000', args: ['-d', '0', '-buff_size', '16777216', ...statEverySecond] })
      : runSipp({
          ...common,
          scenario: scenario('auth-call-expect-200.xml'),
          service: CALLEE.username,
          // A 180 overtaken by its 200 (Kamailio's two workers may relay them in either order) is ignored, as phones
          // do, instead of failing the call.
          args: ['-key', 'caller', CALLER.username, '-au', CALLER.username, '-ap', CALLER.password, '-d', '0', '-buff_size', '16777216', '-default_behaviors', 'all,-abortunexp', ...statEverySecond],
        });
  const result: SippResult = await sipp.result;
  const cpu = cpuSeconds(pids) - cpuBefore;
  const sorted = [...result.rtt].sort((a, b) => a - b);
  // The rate sipp placed the calls at (a call or two left hanging until sipp's timeout must not count as a slow
  // rate: they are judged by the completion criterion).
  const achieved = result.startRate || result.callRate || result.successful / ((Date.now() - started) / 1000);
  const clean = result.failed === 0 && result.successful >= calls * 0.999 && achieved >= rate * 0.95;
  const s: Step = {
    rate,
    calls,
    successful: result.successful,
    failed: result.failed,
    achieved,
    retransmissions: result.retransmissions,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    cpuMsPerCall: result.successful > 0 ? (cpu * 1000) / result.successful : NaN,
    clean,
  };
  log(
    `  ${String(rate).padEnd(7)}${String(calls).padEnd(8)}${String(s.successful).padEnd(8)}${String(s.failed).padEnd(7)}${achieved.toFixed(0).padEnd(9)}` +
      `${String(s.retransmissions).padEnd(8)}${String(s.p50).padEnd(7)}${String(s.p99).padEnd(7)}${s.cpuMsPerCall.toFixed(3).padEnd(8)}${clean ? '' : 'not clean'}`,
  );
  if (s.failed > 0 && process.env.BENCH_VERBOSE) {
    log(`  sipp errors: ${result.errors.slice(0, 2500)}`);
  }
  if (!clean && result.successful === 0) log(`  sipp exit ${result.code}: ${result.stderr.trim().slice(-400)}\n${result.errors.slice(0, 400)}`);
  return s;
}

const HEADER = '  rate   calls   ok      failed achieved retrans p50_ms p99_ms cpu_ms/call';

/** Coarse steps up to the first unclean one, then two bisections; 0 when even the first step fails. */
async function ladder(run: (rate: number) => Promise<Step>): Promise<number> {
  let best = 0;
  let failedAt: number | undefined;
  for (const rate of coarse) {
    const s = await run(rate);
    if (!s.clean) {
      failedAt = rate;
      break;
    }
    best = rate;
    await pause(1000);
  }
  for (let i = 0; i < 2 && failedAt !== undefined && failedAt - best > 100; i++) {
    const mid = Math.round((best + failedAt) / 2 / 50) * 50;
    if (mid <= best || mid >= failedAt) break;
    await pause(1000);
    if ((await run(mid)).clean) best = mid;
    else failedAt = mid;
  }
  return best;
}

function pause(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

interface Outcome {
  name: TargetName;
  clean: number;
  /** The step at the clean rate, and the one at half of it. */
  atClean?: Step;
  atHalf?: Step;
  rssPerBindingBytes?: number;
}

async function withServer<T>(name: TargetName, users: User[], fn: (server: RunningServer, uasPort: number, dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'routr-bench-compare-'));
  const uasPort = await freeSipPort();
  const server = await startTarget(name, { users, uasPort, profileDir, workers, trace });
  let uas: SippProcess | undefined;
  try {
    if (name !== 'static' && storm === undefined) {
      // The callee registers from the port its UAS answers on (routr reaches a binding at its REGISTER's source).
      const reg = await runSipp({ scenario: scenario('register-expect-200.xml'), remote: `127.0.0.1:${server.sipPort}`, localPort: uasPort, calls: 1, timeoutSeconds: 10, args: ['-inf', usersFile(dir, 'callee.csv', [CALLEE])] }).result;
      if (reg.successful !== 1) throw new Error(`${name}: the callee could not register: ${reg.stderr.slice(-400)} ${reg.errors.slice(0, 400)}`);
    }
    if (storm === undefined) {
      uas = runSipp({ scenario: 'uas-answer-200.xml', localPort: uasPort, args: ['-buff_size', '16777216'] });
      await pause(300);
    }
    return await fn(server, uasPort, dir);
  } finally {
    uas?.kill();
    await uas?.result.catch(() => undefined);
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function calls(name: TargetName): Promise<Outcome> {
  return withServer(name, [CALLER, CALLEE], async (server, uasPort, dir) => {
    log(`${name}:`);
    log(HEADER);
    const run = (rate: number) => step(server, rate, { uasPort, dir });
    if (fixed !== undefined) {
      const s = await run(fixed);
      return { name, clean: s.clean ? fixed : 0, atClean: s };
    }
    const clean = await ladder(run);
    if (clean === 0) return { name, clean };
    await pause(1000);
    // The figures at the clean rate come from a step of their own, after the ladder (the ladder's own step at that
    // rate may be a bisection's), then half of it.
    const atClean = await run(clean);
    await pause(1000);
    const atHalf = await run(Math.round(clean / 2));
    return { name, clean, atClean, atHalf };
  });
}

/** BENCH_STORM: distinct AORs register, in slices of a ladder; the rest at the clean rate; RSS per binding. */
async function registrations(name: TargetName, count: number): Promise<Outcome> {
  const users: User[] = Array.from({ length: count }, (_, i) => ({ username: String(2_000_000 + i), password: `pw-${i}` }));
  return withServer(name, users, async (server, uasPort, dir) => {
    log(`${name}: registration storm, ${count} AORs`);
    log(HEADER);
    await pause(2000);
    const rssBefore = server.rssBytes();
    let next = 0;
    const slice = (rate: number) => {
      const n = Math.min(Math.round(rate * seconds), users.length - next);
      const out = users.slice(next, next + n);
      next += n;
      return out;
    };
    let best = 0;
    for (const rate of coarse) {
      const batch = slice(rate);
      if (batch.length < rate * seconds * 0.5) break;
      const s = await step(server, rate, { uasPort, dir, users: batch });
      if (!s.clean) break;
      best = rate;
      await pause(1000);
    }
    if (next < users.length) {
      log(`  the remaining ${users.length - next} at ${Math.max(best, 250)}/s`);
      await step(server, Math.max(best, 250), { uasPort, dir, users: users.slice(next) });
    }
    await pause(3000);
    const rssAfter = server.rssBytes();
    const perBinding = (rssAfter - rssBefore) / count;
    log(`  rss_before_mb=${(rssBefore / 1048576).toFixed(1)} rss_after_mb=${(rssAfter / 1048576).toFixed(1)} rss_per_binding_bytes=${perBinding.toFixed(0)}`);
    return { name, clean: best, rssPerBindingBytes: perBinding };
  });
}

async function main(): Promise<void> {
  for (const t of targets) if (!TARGETS.includes(t)) throw new Error(`unknown target "${t}" (known: ${TARGETS.join(', ')})`);
  log(`bench:compare on ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}; ${seconds} s a step${workers ? `; routr workers ${workers.edge}` : ''}${trace ? '' : '; routr trace off'}`);
  const outcomes: Outcome[] = [];
  for (const name of targets) outcomes.push(storm !== undefined ? await registrations(name, storm) : await calls(name));
  log('');
  for (const o of outcomes) {
    const at = (s: Step | undefined) => (s ? `p50=${s.p50}ms p99=${s.p99}ms cpu=${s.cpuMsPerCall.toFixed(3)}ms/call` : '-');
    log(`${o.name}: clean=${o.clean}/s${o.atClean ? ` [at clean ${at(o.atClean)}]` : ''}${o.atHalf ? ` [at ${o.atHalf.rate}/s ${at(o.atHalf)}]` : ''}${o.rssPerBindingBytes !== undefined ? ` rss_per_binding=${o.rssPerBindingBytes.toFixed(0)}B` : ''}`);
  }
  const k = outcomes.find((o) => o.name === 'kamailio');
  const r = outcomes.find((o) => o.name !== 'kamailio');
  if (k && r) log(`kamailio=${k.clean} ${r.name === 'routr' ? 'routr' : r.name}=${r.clean} ratio=${k.clean > 0 ? (r.clean / k.clean).toFixed(2) : 'NaN'}`);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAllSipp();
    killAll();
    process.exit(130);
  });
}
process.once('exit', () => {
  killAllSipp();
  killAll();
});

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench:compare failed: ${(err as Error).stack ?? String(err)}\n`);
    killAll();
    process.exit(1);
  },
);
