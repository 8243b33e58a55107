/**
 * Start a real redis-server for a test suite: its own free port on loopback, no persistence, its own working
 * directory (removed on stop), never the server that may be running on 6379. `down()`/`up()` stop it and start
 * it again on the same port, for outage tests.
 *
 * Set REDIS_SERVER to a binary to override the lookup (PATH, then /usr/bin and /usr/local/bin).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort } from './ports.js';

export const REDIS_SERVER_MISSING = 'redis-server not found: install it (apt-get install -y redis-server) or put it on PATH';

export interface RedisServerHandle {
  host: string;
  port: number;
  down(): Promise<void>;
  up(): Promise<void>;
  stop(): Promise<void>;
}

async function findRedisServer(): Promise<string> {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/local/bin', '/usr/sbin'];
  const candidates = process.env.REDIS_SERVER ? [process.env.REDIS_SERVER] : dirs.filter(Boolean).map((dir) => join(dir, 'redis-server'));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  throw new Error(REDIS_SERVER_MISSING);
}

export async function startRedisServer(options: { password?: string } = {}): Promise<RedisServerHandle> {
  const binary = await findRedisServer();
  const port = await freePort('tcp');
  const dir = await mkdtemp(join(tmpdir(), 'routr-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...(options.password ? ['--requirepass', options.password] : [])];
  let child: ChildProcess | undefined;
  let log = '';
  const killOnExit = () => child?.kill('SIGKILL');
  process.on('exit', killOnExit);

  const launch = async () => {
    log = '';
    const proc = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    proc.stdout?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4096)));
    proc.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4096)));
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`redis-server exited (${proc.exitCode}):\n${log}`);
      if (/Ready to accept connections/.test(log)) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`redis-server not ready on ${port}:\n${log}`);
  };

  const halt = async () => {
    const proc = child;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };

  await launch();
  return {
    host: '127.0.0.1',
    port,
    down: halt,
    up: launch,
    stop: async () => {
      await halt();
      process.off('exit', killOnExit);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
