/**
 * Runs sipp (the real binary, `apt-get install sip-tester`) with a scenario from test/e2e/scenarios and
 * reports what it counted. Fails with a clear message when sipp is missing.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { packagePath } from '../../core/paths.js';

export interface SippOptions {
  scenario: string;
  /** Remote host:port; absent for a UAS. */
  remote?: string;
  localPort?: number;
  /** The address sipp binds and writes in Via and Contact (default 127.0.0.1; any of 127.0.0.0/8 works). */
  localIp?: string;
  transport?: 'u1' | 'un' | 't1' | 'tn';
  calls?: number;
  rate?: number;
  /** Concurrent call limit. */
  limit?: number;
  service?: string;
  timeoutSeconds?: number;
  /** Extra sipp arguments. */
  args?: string[];
  /** Write per-call response times (rtd) to compute percentiles. */
  traceRtt?: boolean;
}

export interface SippResult {
  code: number;
  successful: number;
  failed: number;
  /** Calls/s sipp actually placed (its cumulative CallRate), 0 when unknown. */
  callRate: number;
  /** Messages sipp had to send again (its cumulative Retransmissions): a server falling behind shows here first. */
  retransmissions: number;
  /**
   * Calls/s sipp started them at: all `calls` over the seconds until the last one was placed (needs `-fd 1`, a stat
   * line a second); unlike callRate, a few calls that hang until the timeout do not pull it down. 0 when unknown.
   */
  startRate: number;
  stdout: string;
  stderr: string;
  errors: string;
  /** Response times in ms when traceRtt was set. */
  rtt: number[];
}

let binary: string | undefined;

export function sippBinary(): string {
  if (binary) return binary;
  for (const candidate of ['sipp', '/usr/bin/sipp', '/usr/local/bin/sipp']) {
    const probe = spawnSync(candidate, ['-v'], { encoding: 'utf8' });
    if (!probe.error) {
      binary = candidate;
      return candidate;
    }
  }
  throw new Error('sipp not found: install it (apt-get install -y sip-tester) or put it on PATH');
}

/** A scenario of test/e2e/scenarios by name, or any scenario file by absolute path (the bench keeps its own). */
export function scenarioPath(name: string): string {
  if (isAbsolute(name)) return name;
  return packagePath('test', 'e2e', 'scenarios', name);
}

/** Every sipp started and not yet exited: `killAllSipp()` ends them (a harness interrupted mid-run). */
const live = new Set<ChildProcess>();

export function killAllSipp(): void {
  for (const child of live) if (child.exitCode === null) child.kill('SIGKILL');
}

export interface SippProcess {
  result: Promise<SippResult>;
  kill(): void;
}

export function runSipp(options: SippOptions): SippProcess {
  const dir = mkdtempSync(join(tmpdir(), 'routr-sipp-'));
  const args = ['-sf', scenarioPath(options.scenario), '-nostdin', '-trace_stat', '-stf', join(dir, 'stat.csv'), '-trace_err', '-error_file', join(dir, 'errors.log')];
  args.push('-i', options.localIp ?? '127.0.0.1', '-t', options.transport ?? 'u1');
  if (options.localPort !== undefined) args.push('-p', String(options.localPort));
  if (options.calls !== undefined) args.push('-m', String(options.calls));
  if (options.rate !== undefined) args.push('-r', String(options.rate));
  if (options.limit !== undefined) args.push('-l', String(options.limit));
  if (options.service) args.push('-s', options.service);
  if (options.timeoutSeconds) args.push('-timeout', `${options.timeoutSeconds}s`, '-timeout_error');
  if (options.traceRtt) args.push('-trace_rtt', '-rtt_freq', '1');
  args.push(...(options.args ?? []));
  if (options.remote) args.push(options.remote);
  const child = spawn(sippBinary(), args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  child.once('exit', () => live.delete(child));
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const result = new Promise<SippResult>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      try {
        const stats = readStats(join(dir, 'stat.csv'), options.calls);
        const errorsFile = join(dir, 'errors.log');
        // Calls sipp carried on past an ignored message (-default_behaviors -abortunexp) are not errors.
        const text = existsSync(errorsFile) ? readFileSync(errorsFile, 'utf8') : '';
        const errors = text.includes('Continuing call on unexpected')
          ? text.split(/(?=\d{4}-\d\d-\d\d\t)/).filter((e) => !e.includes('Continuing call on unexpected')).join('').slice(0, 4000)
          : text.slice(0, 4000);
        const rtt = options.traceRtt ? readRtt(dir) : [];
        resolve({ code: code ?? (signal ? 128 : -1), ...stats, stdout: stdout.slice(-4000), stderr: stderr.slice(-4000), errors, rtt });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
  const kill = () => {
    // SIGUSR1 asks sipp to quit gracefully; a sipp stuck on a call gets SIGKILL after 2 s.
    if (child.exitCode !== null) return;
    child.kill('SIGUSR1');
    setTimeout(() => child.exitCode === null && child.kill('SIGKILL'), 2000).unref();
  };
  return { result, kill };
}

type Stats = { successful: number; failed: number; callRate: number; retransmissions: number; startRate: number };

function readStats(file: string, calls: number | undefined): Stats {
  const none = { successful: 0, failed: 0, callRate: 0, retransmissions: 0, startRate: 0 };
  if (!existsSync(file)) return none;
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  if (lines.length < 2) return none;
  const header = lines[0].split(';');
  const at = (line: string, name: string) => line.split(';')[header.indexOf(name)] ?? '';
  const last = lines[lines.length - 1];
  const field = (name: string) => Number(at(last, name) || 0);
  let startRate = 0;
  if (calls) {
    const placed = lines.slice(1).find((line) => Number(at(line, 'OutgoingCall(C)')) >= calls);
    const [h, m, sec] = (placed ? at(placed, 'ElapsedTime(C)') : '').split(':').map(Number);
    const seconds = (h ?? 0) * 3600 + (m ?? 0) * 60 + (sec ?? 0);
    if (placed && seconds > 0) startRate = calls / seconds;
  }
  return { successful: field('SuccessfulCall(C)'), failed: field('FailedCall(C)'), callRate: field('CallRate(C)'), retransmissions: field('Retransmissions(C)'), startRate };
}

function readRtt(dir: string): number[] {
  const file = readdirSync(dir).find((f) => f.endsWith('_rtt.csv'));
  if (!file) return [];
  return readFileSync(join(dir, file), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => Number(line.split(';')[1]))
    .filter((n) => Number.isFinite(n));
}
