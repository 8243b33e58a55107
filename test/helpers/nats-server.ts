/**
 * Start a real nats-server for a test suite: its own free port on loopback, its own JetStream store in a temp
 * dir (removed on stop), never a server that happens to be running on the machine. `restart()` stops it and
 * starts it again on the same port and store, for reconnect tests; `pause()` freezes it, for hung-server tests.
 *
 * Set NATS_SERVER to a binary to override the lookup (PATH, then /usr/sbin and /usr/local/bin).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort } from './ports.js';

export interface NatsServerHandle {
  url: string;
  port: number;
  stop(): Promise<void>;
  restart(): Promise<void>;
  /** Stop the server but keep its port and store, until up(): for tests of an outage. */
  down(): Promise<void>;
  up(): Promise<void>;
  /**
   * SIGSTOP / SIGCONT: the server keeps its sockets open but answers nothing, like a hung or partitioned one.
   * pause() resolves once the process is actually stopped (signals are delivered asynchronously).
   */
  pause(): Promise<void>;
  resume(): void;
}

export interface NatsServerOptions {
  jetstream?: boolean;
  /** A nats-server config file's text (users and permissions, say); the port and address still come from here. */
  config?: string;
  /** More command-line arguments (cluster routes, say). */
  args?: string[];
  /** Listen on this port instead of a free one (a cluster member whose address others know already). */
  port?: number;
}

const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
const LOG_TAIL = 4096;

export const NATS_SERVER_MISSING = 'nats-server not found: install it (apt-get install -y nats-server) or put it on PATH';

export async function findNatsServer(): Promise<string> {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/bin', '/usr/local/sbin', '/usr/bin'];
  const candidates = process.env.NATS_SERVER ? [process.env.NATS_SERVER] : dirs.filter(Boolean).map((dir) => join(dir, 'nats-server'));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  throw new Error(NATS_SERVER_MISSING);
}

export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const binary = await findNatsServer();
  const port = options.port ?? (await freePort('tcp'));
  const storeDir = options.jetstream || options.config ? await mkdtemp(join(tmpdir(), 'routr-nats-')) : undefined;
  const configFile = options.config && storeDir ? join(storeDir, 'nats-server.conf') : undefined;
  if (configFile) await writeFile(configFile, options.config as string);
  const args = [
    ...(configFile ? ['-c', configFile] : []),
    '-a', '127.0.0.1', '-p', String(port),
    ...(options.jetstream && storeDir ? ['-js', '-sd', storeDir] : []),
    ...(options.args ?? []),
  ];
  let child: ChildProcess | undefined;
  let log = '';
  const killOnExit = (): void => {
    child?.kill('SIGKILL');
  };
  process.on('exit', killOnExit);

  const launch = async (): Promise<void> => {
    log = '';
    const proc = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child = proc;
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (chunk: string) => {
      log = (log + chunk).slice(-LOG_TAIL);
    });
    await waitUntilReady(proc, port, () => log);
  };

  const stopProcess = async (): Promise<void> => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };

  try {
    await launch();
  } catch (err) {
    await stopProcess();
    process.off('exit', killOnExit);
    if (storeDir) await rm(storeDir, { recursive: true, force: true });
    throw err;
  }

  let stopped: Promise<void> | undefined;
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    pause: async () => {
      const proc = child;
      if (!proc?.pid) return;
      proc.kill('SIGSTOP');
      await waitUntilStopped(proc.pid);
    },
    resume: () => {
      child?.kill('SIGCONT');
    },
    restart: async () => {
      await stopProcess();
      await launch();
    },
    down: () => stopProcess(),
    up: () => launch(),
    stop: () =>
      (stopped ??= (async () => {
        await stopProcess();
        process.off('exit', killOnExit);
        if (storeDir) await rm(storeDir, { recursive: true, force: true });
      })()),
  };
}

/** Ready: the log says the client listener is up and a TCP connect to our port succeeds, with our child alive. */
async function waitUntilReady(proc: ChildProcess, port: number, log: () => string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`nats-server exited before it was ready (code ${proc.exitCode ?? proc.signalCode}):\n${log()}`);
    }
    if (/Server is ready|Listening for client connections/.test(log()) && (await canConnect(port))) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`nats-server not ready on port ${port} after ${READY_TIMEOUT_MS} ms:\n${log()}`);
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Linux: poll /proc until the state is T (stopped). Elsewhere: give the signal a moment. */
async function waitUntilStopped(pid: number): Promise<void> {
  const deadline = Date.now() + 2000;
  while (Date.now() < deadline) {
    let stat: string;
    try {
      stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
      return;
    }
    // Format: pid (comm) state ...; comm may contain spaces, so read after the last ')'.
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('T')) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`nats-server ${pid} did not stop after SIGSTOP`);
}
