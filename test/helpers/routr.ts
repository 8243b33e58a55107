/**
 * Starts routr for tests: in this process (`startRoutr`) or as child processes running the real CLI
 * (`spawnRoutr`), on free ports, with a config built from overrides and written to a temp file. Both wait
 * until /readyz says ready.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dump } from 'js-yaml';
import { parseServerConfig, type ServerConfig, type TransportConfig } from '../../core/config/server.js';
import { testEngineChoice } from './sandbox-engine.js';
import { silentLogger, type Logger } from '../../core/log.js';
import { RoutrServer, type Role } from '../../core/server.js';
import { cliCommand } from './runtime.js';

export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? (T[K] extends unknown[] ? T[K] : DeepPartial<T[K]>) : T[K] };
export type SpecOverrides = DeepPartial<ServerConfig['spec']>;

/** A port free for both UDP and TCP on 127.0.0.1 (SIP listens on both). */
export async function freeSipPort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as net.AddressInfo;
        server.close(() => resolve(port));
      });
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const socket = dgram.createSocket('udp4');
      socket.once('error', () => resolve(false));
      socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
  throw new Error('no free port for both UDP and TCP');
}

export async function freeTcpPort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface TransportPorts {
  udp: number;
  tcp: number;
  tls: number;
  ws: number;
  wss: number;
}

/** All five transports on free ports (UDP and TCP share one), TLS and WSS with the given PEM files. */
export async function allTransports(tls: { cert: string; key: string; ca?: string }): Promise<{ ports: TransportPorts; transports: TransportConfig[] }> {
  const sip = await freeSipPort();
  const ports = { udp: sip, tcp: sip, tls: await freeTcpPort(), ws: await freeTcpPort(), wss: await freeTcpPort() };
  const transports: TransportConfig[] = [
    { protocol: 'udp', port: ports.udp },
    { protocol: 'tcp', port: ports.tcp },
    { protocol: 'tls', port: ports.tls, tls },
    { protocol: 'ws', port: ports.ws },
    { protocol: 'wss', port: ports.wss, tls },
  ];
  return { ports, transports };
}

export interface TestConfig {
  document: Record<string, unknown>;
  sipPort: number;
  httpPort: number;
}

/** A Server document on free ports: UDP and TCP on one port, HTTP on another, fast timers, quiet logs. */
export async function testConfig(spec: SpecOverrides = {}): Promise<TestConfig> {
  const sipPort = await freeSipPort();
  const httpPort = await freeTcpPort();
  const edge = spec.edge ?? {};
  const document = {
    apiVersion: 'v2beta1',
    kind: 'Server',
    ref: 'test',
    spec: {
      ...spec,
      edge: {
        bindAddr: '127.0.0.1',
        transports: [
          { protocol: 'udp', port: sipPort },
          { protocol: 'tcp', port: sipPort },
        ],
        drainTimeoutMs: 2000,
        ...edge,
      },
      host: { ...spec.host, sandbox: { engine: testEngineChoice(), ...spec.host?.sandbox } },
      http: { bindAddr: '127.0.0.1', port: httpPort, ...(spec.http ?? {}) },
      logging: { level: process.env.ROUTR_TEST_LOG ?? 'silent', ...(spec.logging ?? {}) },
    },
  };
  return { document, sipPort, httpPort };
}

export interface RunningRoutr {
  sipPort: number;
  httpPort: number;
  server: RoutrServer;
  stop(): Promise<void>;
}

export async function startRoutr(spec: SpecOverrides = {}, options: { role?: Role; logger?: Logger } = {}): Promise<RunningRoutr> {
  const { document, sipPort, httpPort } = await testConfig(spec);
  const config = parseServerConfig(document, 'test');
  const server = new RoutrServer({ config, role: options.role, logger: options.logger ?? silentLogger() });
  await server.start();
  return { sipPort, httpPort, server, stop: () => server.stop() };
}

export interface SpawnedRoutr {
  sipPort: number;
  httpPort: number;
  child: ChildProcess;
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Run `routr start` as a child process with the given document, waiting for /readyz (or for `readyPath`). */
export async function spawnRoutr(
  test: TestConfig,
  options: { role?: Role; waitReady?: boolean; args?: string[]; env?: Record<string, string>; nodeFlags?: string[] } = {},
): Promise<SpawnedRoutr> {
  const dir = mkdtempSync(join(tmpdir(), 'routr-test-'));
  const file = join(dir, 'routr.yaml');
  writeFileSync(file, dump(test.document));
  const [command, args] = cliCommand(['start', '--config', file, '--role', options.role ?? 'all', ...(options.args ?? [])], options.nodeFlags ? { nodeFlags: ['--enable-source-maps', ...options.nodeFlags] } : {});
  const child = spawn(command, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.env ? { env: { ...process.env, ...options.env } } : {}),
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20000)));
  child.stderr?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const handle: SpawnedRoutr = {
    sipPort: test.sipPort,
    httpPort: test.httpPort,
    child,
    output: () => output,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      const code = await exited;
      rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
  if (options.waitReady !== false) {
    try {
      await waitReady(test.httpPort, exited);
    } catch (err) {
      await handle.stop('SIGKILL');
      throw new Error(`${(err as Error).message}\n--- routr output ---\n${output}`);
    }
  }
  return handle;
}

export async function waitReady(httpPort: number, exited?: Promise<unknown>, timeoutMs = 20000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let dead = false;
  void exited?.then(() => (dead = true));
  while (Date.now() < deadline) {
    if (dead) throw new Error('routr exited before it was ready');
    try {
      const res = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`routr not ready within ${timeoutMs} ms`);
}

export async function metricValue(httpPort: number, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    const ok = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
    if (ok) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}
