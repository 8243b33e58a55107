/**
 * Runs sipp (the real binary, `apt-get install sip-tester`) with a scenario from test/e2e/scenarios and
 * reports what it counted. Fails with a clear message when sipp is missing.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

export function scenarioPath(name: string): string {
  return packagePath('test', 'e2e', 'scenarios', name);
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
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const result = new Promise<SippResult>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      try {
        const stats = readStats(join(dir, 'stat.csv'));
        const errorsFile = join(dir, 'errors.log');
        const errors = existsSync(errorsFile) ? readFileSync(errorsFile, 'utf8').slice(0, 4000) : '';
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

function readStats(file: string): { successful: number; failed: number; callRate: number } {
  if (!existsSync(file)) return { successful: 0, failed: 0, callRate: 0 };
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  if (lines.length < 2) return { successful: 0, failed: 0, callRate: 0 };
  const header = lines[0].split(';');
  const last = lines[lines.length - 1].split(';');
  const field = (name: string) => Number(last[header.indexOf(name)] ?? 0);
  return { successful: field('SuccessfulCall(C)'), failed: field('FailedCall(C)'), callRate: field('CallRate(C)') };
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
