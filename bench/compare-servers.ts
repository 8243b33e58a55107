/**
 * The servers `npm run bench:compare` measures, each started on free ports with the same users: Kamailio (the
 * Debian package, bench/kamailio/kamailio.cfg, two UDP workers) and routr in its topologies — embedded (one
 * process, in-process bus, Connect), edge and host as separate processes over a nats-server (Connect), and the
 * static processor. Every child is tracked so the harness can kill what it started, whatever happens.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packagePath } from '../core/paths.js';
import { freeSipPort, spawnRoutr, testConfig, type SpawnedRoutr, type SpecOverrides } from '../test/helpers/routr.js';
import { startNatsServer, type NatsServerHandle } from '../test/helpers/nats-server.js';

export type TargetName = 'kamailio' | 'routr' | 'routr-nats' | 'static';
export const TARGETS: readonly TargetName[] = ['kamailio', 'routr', 'routr-nats', 'static'];

export interface User {
  username: string;
  password: string;
}

/** The caller and the callee of the ladder; the storm adds its own users. */
export const CALLER: User = { username: '1001', password: '1234' };
export const CALLEE: User = { username: '1002', password: '5678' };
export const DOMAIN = 'sip.local';

export interface StartOptions {
  users: User[];
  /** The sipp UAS's port: the static processor routes every call there (the others look the callee up). */
  uasPort: number;
  /** routr only: run its processes under `--cpu-prof`, profiles written here. */
  profileDir?: string;
  /** routr only: spec.edge.workers and spec.host.workers (absent: routr's defaults). */
  workers?: { edge?: number; host?: number };
  /** routr only: spec.edge.trace.enabled (default routr's: on). */
  trace?: boolean;
}

export interface RunningServer {
  name: TargetName;
  sipPort: number;
  /** What the registration storm and the bench report measure: resident memory of every process of the server. */
  rssBytes(): number;
  /** PIDs of the server's processes (CPU accounting). */
  pids(): number[];
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();

/** Kill whatever is still running (the harness calls it on exit and on signals). */
export function killAll(): void {
  for (const child of children) {
    if (child.exitCode !== null || child.pid === undefined) continue;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  }
}

/** RSS of a process and its descendants, from /proc (Linux). */
export function treeRss(rootPid: number): number {
  let total = 0;
  for (const pid of descendants(rootPid)) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const kb = /VmRSS:\s+(\d+) kB/.exec(status);
      if (kb) total += Number(kb[1]) * 1024;
    } catch {
      // exited meanwhile
    }
  }
  return total;
}

export function descendants(rootPid: number): number[] {
  const out = [rootPid];
  for (let i = 0; i < out.length; i++) {
    try {
      const kids = readFileSync(`/proc/${out[i]}/task/${out[i]}/children`, 'utf8').trim();
      if (kids) out.push(...kids.split(/\s+/).map(Number));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

export async function startTarget(name: TargetName, options: StartOptions): Promise<RunningServer> {
  switch (name) {
    case 'kamailio':
      return startKamailio(options);
    case 'routr':
      return startRoutrEmbedded(options, 'connect');
    case 'static':
      return startRoutrEmbedded(options, 'static');
    case 'routr-nats':
      return startRoutrNats(options);
  }
}

async function startKamailio(options: StartOptions): Promise<RunningServer> {
  if (spawnSync('kamailio', ['-v']).error) throw new Error('kamailio not found: apt-get install -y kamailio');
  const dir = mkdtempSync(join(tmpdir(), 'routr-bench-kamailio-'));
  const port = await freeSipPort();
  const rows = options.users.map((u, i) => `${i + 1}:${u.username}:0:0:${u.password}:0`);
  writeFileSync(join(dir, 'users'), `id(int,auto) key_name(string) key_type(int) value_type(int) key_value(string) expires(int)\n${rows.join('\n')}\n`);
  const template = readFileSync(packagePath('bench', 'kamailio', 'kamailio.cfg'), 'utf8');
  const cfg = join(dir, 'kamailio.cfg');
  writeFileSync(cfg, template.replaceAll('@PORT@', String(port)).replaceAll('@DBDIR@', dir));
  const child = spawn('kamailio', ['-f', cfg, '-DD', '-E', '-m', '1024', '-M', '32', '-Y', dir, '-P', join(dir, 'kamailio.pid'), '-w', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  children.add(child);
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-8000)));
  child.stderr?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-8000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitUdpAnswer(port, exited, () => output);
  return {
    name: 'kamailio',
    sipPort: port,
    rssBytes: () => treeRss(child.pid as number),
    pids: () => descendants(child.pid as number),
    stop: async () => {
      if (child.exitCode === null) process.kill(-(child.pid as number), 'SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (child.exitCode === null) process.kill(-(child.pid as number), 'SIGKILL');
      await exited;
      children.delete(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** An OPTIONS over UDP until something answers: Kamailio has no readiness endpoint. */
async function waitUdpAnswer(port: number, exited: Promise<void>, output: () => string): Promise<void> {
  const dgram = await import('node:dgram');
  let dead = false;
  void exited.then(() => (dead = true));
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  const local = socket.address().port;
  let answered = false;
  socket.on('message', () => (answered = true));
  const deadline = Date.now() + 15_000;
  try {
    while (!answered) {
      if (dead) throw new Error(`kamailio exited before it answered:\n${output()}`);
      if (Date.now() > deadline) throw new Error(`kamailio did not answer within 15 s:\n${output()}`);
      const branch = `z9hG4bK${Math.random().toString(36).slice(2)}`;
      const msg = `OPTIONS sip:127.0.0.1:${port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${local};branch=${branch}\r\nFrom: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1:${port}>\r\nCall-ID: ${branch}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`;
      socket.send(msg, port, '127.0.0.1');
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    socket.close();
  }
}

/** Resources for Connect: Domain sip.local and one Agent with Credentials per user, as JSON (fast to load). */
function writeResources(users: User[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'routr-bench-resources-'));
  const docs: unknown[] = [{ apiVersion: 'v2beta1', kind: 'Domain', ref: 'domain', spec: { context: { domainUri: DOMAIN } } }];
  users.forEach((u, i) => {
    docs.push({ apiVersion: 'v2beta1', kind: 'Credentials', ref: `c${i}`, spec: { credentials: { username: u.username, password: u.password } } });
    docs.push({ apiVersion: 'v2beta1', kind: 'Agent', ref: `a${i}`, spec: { username: u.username, domainRef: 'domain', credentialsRef: `c${i}` } });
  });
  writeFileSync(join(dir, 'resources.json'), JSON.stringify(docs));
  return dir;
}

function hostSpec(kind: 'connect' | 'static', options: StartOptions): SpecOverrides['host'] {
  const processors =
    kind === 'connect'
      ? [{ ref: 'connect', isFallback: true, config: { algorithms: ['MD5'] } }]
      : [{ ref: 'static', isFallback: true, config: { routes: [{ user: '.+', target: `sip:127.0.0.1:${options.uasPort}` }] } }];
  return { processors, ...(options.workers?.host !== undefined ? { workers: options.workers.host } : {}) } as SpecOverrides['host'];
}

function edgeSpec(options: StartOptions): SpecOverrides['edge'] {
  return {
    ...(options.trace === false ? { trace: { enabled: false } } : {}),
    ...(options.workers?.edge !== undefined ? { workers: options.workers.edge } : {}),
  } as SpecOverrides['edge'];
}

function profileFlags(options: StartOptions, name: string): string[] | undefined {
  return options.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`] : undefined;
}

function routrHandle(name: TargetName, processes: SpawnedRoutr[], sipPort: number, cleanup: () => Promise<void>): RunningServer {
  return {
    name,
    sipPort,
    rssBytes: () => processes.reduce((n, p) => n + treeRss(p.child.pid as number), 0),
    pids: () => processes.flatMap((p) => descendants(p.child.pid as number)),
    stop: async () => {
      // SIGINT: routr drains (the profiles are written on a clean exit).
      await Promise.all(processes.map((p) => p.stop('SIGINT')));
      await cleanup();
    },
  };
}

async function startRoutrEmbedded(options: StartOptions, kind: 'connect' | 'static'): Promise<RunningServer> {
  const resourcesDir = kind === 'connect' ? writeResources(options.users) : undefined;
  const resources = resourcesDir ? { provider: 'files' as const, path: resourcesDir } : undefined;
  const config = await testConfig({ host: hostSpec(kind, options), edge: edgeSpec(options), logging: { level: 'warn' }, resources });
  const all = await spawnRoutr(config, { role: 'all', nodeFlags: profileFlags(options, kind === 'connect' ? 'routr' : 'static') });
  return routrHandle(kind === 'connect' ? 'routr' : 'static', [all], all.sipPort, async () => {
    if (resourcesDir) rmSync(resourcesDir, { recursive: true, force: true });
  });
}

async function startRoutrNats(options: StartOptions): Promise<RunningServer> {
  const nats: NatsServerHandle = await startNatsServer({ jetstream: true });
  const resourcesDir = writeResources(options.users);
  const bus = { url: nats.url };
  const resources = { provider: 'files' as const, path: resourcesDir };
  const processes: SpawnedRoutr[] = [];
  try {
    processes.push(await spawnRoutr(await testConfig({ bus, host: hostSpec('connect', options), logging: { level: 'warn' }, resources }), { role: 'host', nodeFlags: profileFlags(options, 'host') }));
    const edge = await spawnRoutr(await testConfig({ bus, edge: edgeSpec(options), logging: { level: 'warn' } }), { role: 'edge', nodeFlags: profileFlags(options, 'edge') });
    processes.push(edge);
    return routrHandle('routr-nats', processes, edge.sipPort, async () => {
      await nats.stop();
      rmSync(resourcesDir, { recursive: true, force: true });
    });
  } catch (err) {
    await Promise.all(processes.map((p) => p.stop('SIGKILL')));
    await nats.stop();
    throw err;
  }
}
