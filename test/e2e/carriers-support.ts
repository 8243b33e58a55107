/**
 * The test bed of the carriers sipp suite (carriers-sipp.test.ts): resources with Trunks that register and
 * challenge, a probed Trunk, a backend group and three Domains for the three registrar NAT modes; routr on the
 * embedded bus or as an edge and two hosts over a real nats-server; and the API reads the suite checks.
 *
 * Addresses on loopback tell the roles apart, as in connect-support.ts: Agents and backends send from 127.0.0.1,
 * the carrier that calls in from 127.0.0.3 (trunk-pstn's inbound address).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createLogger } from '../../core/log.js';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { metricValue, spawnRoutr, startRoutr, testConfig, type SpawnedRoutr, type SpecOverrides } from '../helpers/routr.js';
import { NONCE_TTL_SECONDS } from './connect-support.js';

export const DOMAIN = 'sip.local';
export const CARRIER_HOST = '127.0.0.3';
export const API_TOKEN = 'carriers-e2e-token';
/** The carrier account every registering and challenging Trunk uses (carrier-registrar-challenge-401.xml checks it). */
export const TRUNK_ACCOUNT = { username: 'acme', password: 'trunk-secret' };
export const CALLER = { username: '1001', password: 'john-1234' };
/** Dialled numbers: each prefix leaves through its own Trunk (the Domain's egress rules). */
export const DIAL = { auth: '+15550010001', wrong: '+15550020001', probe: '+15550030001' };
/** The Number a carrier calls from 127.0.0.3: spec.next sends it to the CONFERENCE backend group. */
export const CONFERENCE_NUMBER = '+19105550200';
export const BACKENDS = {
  a: { ref: 'member-a', username: 'conf-a', password: 'conf-a-secret' },
  b: { ref: 'member-b', username: 'conf-b', password: 'conf-b-secret' },
} as const;
/** One Domain per registrar NAT mode: callee and caller Agents in each. */
export const NAT_DOMAINS = {
  auto: { domain: 'auto.test', callee: '3002', caller: '3001' },
  always: { domain: 'always.test', callee: '4002', caller: '4001' },
  never: { domain: 'never.test', callee: '5002', caller: '5001' },
} as const;
export const PROBES = { intervalSeconds: 1, failuresToMarkDown: 2, successesToMarkUp: 1 };
export const LEASE_TTL_SECONDS = 3;

export interface CarrierPorts {
  /** The carrier's registrar (sipp, carrier-registrar-challenge-401.xml). */
  registrar: number;
  /** trunk-auth's outbound URI: a carrier challenging calls with 407. */
  auth: number;
  /** trunk-wrong's: routr's credentials there are wrong. */
  wrong: number;
  /** trunk-probe's two URIs, priority 10 and 20. */
  probeA: number;
  probeB: number;
}

function resource(kind: string, ref: string, spec: Record<string, unknown>): Record<string, unknown> {
  return { apiVersion: 'v2beta1', kind, ref, metadata: { name: `${kind} ${ref}` }, spec };
}

const credentials = (ref: string, username: string, password: string) => resource('Credentials', ref, { credentials: { username, password } });
const uri = (port: number, priority = 10) => ({ uri: { host: '127.0.0.1', port, transport: 'udp' }, priority, weight: 10 });
const agentPassword = (user: string) => `pw-${user}`;

export function agentAccount(user: string): { username: string; password: string } {
  return { username: user, password: user === CALLER.username ? CALLER.password : agentPassword(user) };
}

export function carriersResources(ports: CarrierPorts): Record<string, unknown>[] {
  const natResources = Object.entries(NAT_DOMAINS).flatMap(([mode, d]) => [
    resource('Domain', `domain-${mode}`, { context: { domainUri: d.domain } }),
    ...[d.caller, d.callee].flatMap((user) => [credentials(`cred-${user}`, user, agentPassword(user)), resource('Agent', `agent-${user}`, { username: user, domainRef: `domain-${mode}`, credentialsRef: `cred-${user}` })]),
  ]);
  return [
    resource('Domain', 'domain-01', {
      context: {
        domainUri: DOMAIN,
        egressPolicies: [
          { rule: '^\\+?1555001', numberRef: 'number-auth' },
          { rule: '^\\+?1555002', numberRef: 'number-wrong' },
          { rule: '^\\+?1555003', numberRef: 'number-probe' },
        ],
      },
    }),
    credentials('cred-1001', CALLER.username, CALLER.password),
    resource('Agent', 'agent-1001', { username: CALLER.username, domainRef: 'domain-01', credentialsRef: 'cred-1001' }),
    credentials('cred-trunk', TRUNK_ACCOUNT.username, TRUNK_ACCOUNT.password),
    credentials('cred-trunk-bad', TRUNK_ACCOUNT.username, 'not-the-password'),
    resource('Trunk', 'trunk-reg', { outbound: { sendRegister: true, credentialsRef: 'cred-trunk', expires: 60, uris: [uri(ports.registrar)] } }),
    resource('Trunk', 'trunk-reg-bad', { outbound: { sendRegister: true, credentialsRef: 'cred-trunk-bad', expires: 60, uris: [{ ...uri(ports.registrar), uri: { host: '127.0.0.1', port: ports.registrar, transport: 'udp', user: 'other' } }] } }),
    resource('Trunk', 'trunk-auth', { outbound: { credentialsRef: 'cred-trunk', uris: [uri(ports.auth)] } }),
    resource('Trunk', 'trunk-wrong', { outbound: { credentialsRef: 'cred-trunk-bad', uris: [uri(ports.wrong)] } }),
    resource('Trunk', 'trunk-probe', { outbound: { probes: PROBES, uris: [uri(ports.probeA, 10), uri(ports.probeB, 20)] } }),
    resource('Trunk', 'trunk-pstn', { inbound: { uri: CARRIER_HOST } }),
    resource('Number', 'number-auth', { trunkRef: 'trunk-auth', location: { telUrl: 'tel:+19105550001' } }),
    resource('Number', 'number-wrong', { trunkRef: 'trunk-wrong', location: { telUrl: 'tel:+19105550002' } }),
    resource('Number', 'number-probe', { trunkRef: 'trunk-probe', location: { telUrl: 'tel:+19105550003' } }),
    resource('Number', 'number-conference', { trunkRef: 'trunk-pstn', next: { backend: 'CONFERENCE', ref: 'work-conference' }, location: { telUrl: `tel:${CONFERENCE_NUMBER}` } }),
    credentials('cred-conference', 'conference', 'conference-secret'),
    resource('Peer', 'peer-conference', { username: 'conference', aor: 'backend:conference', credentialsRef: 'cred-conference', loadBalancing: { algorithm: 'least-sessions' } }),
    ...Object.values(BACKENDS).flatMap((b) => [credentials(`cred-${b.ref}`, b.username, b.password), resource('Peer', b.ref, { username: b.username, aor: `sip:${b.username}@${DOMAIN}`, credentialsRef: `cred-${b.ref}` })]),
    ...natResources,
  ];
}

const matchDomain = (domain: string) => `req => /@${domain.replace('.', '\\.')}\\b/.test(req.message.headers.to.uri + ' ' + req.message.headers.from.uri)`;

/** The host part of the Server document: Connect three times (one entry per NAT mode), leases short for takeover. */
export function carriersHostSpec(resourcesDir: string): SpecOverrides {
  const algorithms = ['MD5', 'SHA-256']; // sipp answers MD5 only
  return {
    host: {
      processors: [
        { ref: 'connect-always', plugin: 'connect', matchFunc: matchDomain(NAT_DOMAINS.always.domain), config: { algorithms, nat: 'always' } },
        { ref: 'connect-never', plugin: 'connect', matchFunc: matchDomain(NAT_DOMAINS.never.domain), config: { algorithms, nat: 'never' } },
        // The registrar's NAT mode comes from spec.host.registrar.nat (auto, the default) for the rest.
        { ref: 'connect', isFallback: true, config: { algorithms } },
      ],
      auth: { nonceTtlSeconds: NONCE_TTL_SECONDS },
    },
    cluster: { leaseTtlSeconds: LEASE_TTL_SECONDS },
    http: { apiToken: API_TOKEN },
    resources: { provider: 'files', path: resourcesDir },
  } as SpecOverrides;
}

export interface CarriersBed {
  name: string;
  sipPort: number;
  /** The ops ports of the processes that run hosts (one embedded; two over NATS). */
  hostHttpPorts: number[];
  /** The pids of the host processes (this process when embedded). */
  hostPids: number[];
  /** SIGKILL one host (NATS only): its leases lapse and the other host takes over. */
  killHost(index: number): Promise<void>;
  stop(): Promise<void>;
}

export async function embeddedCarriersBed(spec: SpecOverrides): Promise<CarriersBed> {
  const level = process.env.ROUTR_TEST_LOG;
  const routr = await startRoutr(spec, level ? { logger: createLogger({ level, destination: process.stderr }) } : {});
  return {
    name: 'embedded',
    sipPort: routr.sipPort,
    hostHttpPorts: [routr.httpPort],
    hostPids: [process.pid],
    killHost: async () => {
      throw new Error('the embedded bed has one process');
    },
    stop: () => routr.stop(),
  };
}

/** An edge and two hosts, each its own `routr start`, over a nats-server with JetStream. */
export async function natsCarriersBed(spec: SpecOverrides): Promise<CarriersBed> {
  const nats: NatsServerHandle = await startNatsServer({ jetstream: true });
  const bus = { url: nats.url };
  const hosts: SpawnedRoutr[] = [];
  const started: SpawnedRoutr[] = [];
  const killed = new Set<SpawnedRoutr>();
  try {
    for (let i = 0; i < 2; i++) hosts.push(await spawnRoutr(await testConfig({ ...spec, bus }), { role: 'host' }));
    started.push(...hosts);
    const edge = await spawnRoutr(await testConfig({ bus, http: { apiToken: API_TOKEN } } as SpecOverrides), { role: 'edge' });
    started.push(edge);
    return {
      name: 'nats',
      sipPort: edge.sipPort,
      hostHttpPorts: hosts.map((h) => h.httpPort),
      hostPids: hosts.map((h) => h.child.pid as number),
      killHost: async (index) => {
        killed.add(hosts[index]);
        await hosts[index].stop('SIGKILL');
      },
      stop: async () => {
        const codes = await Promise.all(started.filter((p) => !killed.has(p)).map(async (p) => [await p.stop(), p] as const));
        await nats.stop();
        const bad = codes.filter(([code]) => code !== 0);
        if (bad.length) throw new Error(`routr processes exited ${bad.map(([c]) => c).join(', ')} on SIGTERM\n${bad.map(([, p]) => p.output()).join('\n')}`);
      },
    };
  } catch (err) {
    await Promise.all(started.map((p) => p.stop('SIGKILL')));
    await nats.stop();
    throw err;
  }
}

export async function api<T>(httpPort: number, path: string): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/api/v1/${path}`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
  if (res.status !== 200) throw new Error(`GET /api/v1/${path} answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as T;
}

export interface RegistrationRow {
  trunk: string;
  uri: string;
  state: string;
  status: number | null;
  reason: string | null;
  registeredUntil: number | null;
  nextAttempt: number | null;
  owner: string;
  edge: string | null;
}

export interface ProbeRow {
  kind: string;
  target: string;
  up: boolean;
  since: number;
}

export function trunksStatus(httpPort: number): Promise<{ registrations: RegistrationRow[]; probes: ProbeRow[] }> {
  return api(httpPort, 'trunks/status');
}

export async function registration(httpPort: number, trunk: string): Promise<RegistrationRow | undefined> {
  return (await trunksStatus(httpPort)).registrations.find((r) => r.trunk === trunk);
}

/** Open balanced sessions of a Peer (least-sessions' counts), from a host's status. */
export async function sessionsOf(httpPort: number, peerRef: string): Promise<Record<string, number>> {
  const status = await api<{ balancer: Record<string, Record<string, number>> | null }>(httpPort, 'status');
  return status.balancer?.[peerRef] ?? {};
}

export async function metricOnHosts(bed: CarriersBed, name: string, labels: Record<string, string>): Promise<number> {
  let total = 0;
  for (const port of bed.hostHttpPorts) total += await metricValue(port, name, labels);
  return total;
}

/** Every SIP message in a sipp message log, received or sent, as text blocks. */
export function messagesIn(file: string, direction: 'received' | 'sent' | 'any' = 'any'): string[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split(/^-{20,}.*$/m)
    .filter((block) => (direction === 'any' ? /message (received|sent)/.test(block) : new RegExp(`message ${direction}`).test(block)))
    .map((block) => block.replace(/^[\s\S]*?message (received|sent)[^\n]*\n\s*/, ''));
}

export function header(message: string, name: string): string | undefined {
  return new RegExp(`^${name}:\\s*(.*?)\\r?$`, 'im').exec(message)?.[1];
}

/** Whether a digest Authorization/Proxy-Authorization value answers with `account` (RFC 2617 with qop=auth). */
export function digestChecks(value: string, method: string, account: { username: string; password: string }): boolean {
  const params = Object.fromEntries([...value.matchAll(/(\w+)=(?:"([^"]*)"|([^,\s]+))/g)].map((m) => [m[1].toLowerCase(), m[2] ?? m[3]]));
  const md5 = (s: string) => createHash('md5').update(s).digest('hex');
  if (params.username !== account.username) return false;
  const ha1 = md5(`${account.username}:${params.realm}:${account.password}`);
  const ha2 = md5(`${method}:${params.uri}`);
  const expected = params.qop ? md5(`${ha1}:${params.nonce}:${params.nc}:${params.cnonce}:${params.qop}:${ha2}`) : md5(`${ha1}:${params.nonce}:${ha2}`);
  return expected === params.response;
}
