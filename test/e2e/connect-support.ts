/**
 * The test bed of the Connect sipp suite (connect-sipp.test.ts): the resources it routes with, routr started on
 * the embedded bus or as an edge and two hosts over a real nats-server, and sipp runs with the keys the
 * connect-*.xml scenarios read filled in.
 *
 * Addresses on loopback tell the roles apart: Agents and Peers send from 127.0.0.1, the carrier from
 * 127.0.0.3 (the Trunk's inbound address: Connect takes any request from there as from-pstn, so it cannot be
 * the Agents' address), and 127.0.0.2 is the source the Domain's ACL refuses.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { createLogger } from '../../core/log.js';
import { freeSipPort, metricValue, spawnRoutr, startRoutr, testConfig, type SpecOverrides, type SpawnedRoutr } from '../helpers/routr.js';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { runSipp, type SippProcess, type SippResult } from '../helpers/sipp.js';

export const DOMAIN = 'sip.local';
export const AGENT_HOST = '127.0.0.1';
export const DENIED_HOST = '127.0.0.2';
export const CARRIER_HOST = '127.0.0.3';
/** The nonce lifetime the suite runs with: short, so the stale-nonce flow waits only a little past it. */
export const NONCE_TTL_SECONDS = 1;

/** Agents of sip.local and what each is for; every one has digest credentials. */
export const AGENTS = {
  john: { username: '1001', password: 'john-1234' }, // the caller of Agent calls; Number +19103434434 rings him
  jane: { username: '1002', password: 'jane-5678' }, // agent-to-agent callee
  reg: { username: '1003', password: 'reg-1003' }, // registrar flows
  victim: { username: '1004', password: 'victim-1004' }, // replay, and the AOR a hijack aims at
  leaver: { username: '1005', password: 'leaver-1005' }, // unregisters, then is called (480)
  ringer: { username: '1006', password: 'ringer-1006' }, // rings until cancelled
} as const;
export const PEERS = {
  voice: { ref: 'peer-voice', username: 'voice', password: 'voice-secret', aor: 'backend:voice', algorithm: 'round-robin' },
  media: { ref: 'peer-media', username: 'media', password: 'media-secret', aor: 'backend:media', algorithm: 'least-sessions' },
} as const;
/** Number +19103434434 of trunk-main: from the PSTN it rings John; the default egress rule sends calls out with it. */
export const MAIN_NUMBER = '+19103434434';
/** Dialled numbers: the first egress rule sends +1555... through trunk-failover, the catch-all through trunk-main. */
export const PSTN_NUMBER = '+19105550100';
export const FAILOVER_NUMBER = '+15550001111';

export interface CarrierPorts {
  /** trunk-main's outbound URI. */
  main: number;
  /** trunk-failover's first URI (priority 10): a sipp answering 503. */
  down: number;
  /** trunk-failover's second URI (priority 20). */
  up: number;
}

function resource(kind: string, ref: string, spec: Record<string, unknown>): Record<string, unknown> {
  return { apiVersion: 'v2beta1', kind, ref, metadata: { name: `${kind} ${ref}` }, spec };
}

export function connectResources(carrier: CarrierPorts): Record<string, unknown>[] {
  const uri = (port: number, priority: number) => ({ uri: { host: '127.0.0.1', port, transport: 'udp' }, priority, weight: 10 });
  return [
    resource('AccessControlList', 'acl-agents', { accessControlList: { deny: ['0.0.0.0/0'], allow: [`${AGENT_HOST}/32`] } }),
    resource('Domain', 'domain-01', {
      accessControlListRef: 'acl-agents',
      context: {
        domainUri: DOMAIN,
        egressPolicies: [
          { rule: '^\\+?1555[0-9]{7}$', numberRef: 'number-failover' },
          { rule: '^\\+?[0-9]{7,15}$', numberRef: 'number-main' },
        ],
      },
    }),
    ...Object.entries(AGENTS).flatMap(([name, a]) => [
      resource('Credentials', `credentials-${name}`, { credentials: { username: a.username, password: a.password } }),
      resource('Agent', `agent-${name}`, { username: a.username, domainRef: 'domain-01', credentialsRef: `credentials-${name}` }),
    ]),
    ...Object.values(PEERS).flatMap((p) => [
      resource('Credentials', `credentials-${p.ref}`, { credentials: { username: p.username, password: p.password } }),
      resource('Peer', p.ref, {
        username: p.username,
        aor: p.aor,
        credentialsRef: `credentials-${p.ref}`,
        accessControlListRef: 'acl-agents',
        loadBalancing: { algorithm: p.algorithm, withSessionAffinity: true },
      }),
    ]),
    resource('Number', 'number-main', { trunkRef: 'trunk-main', location: { telUrl: `tel:${MAIN_NUMBER}`, aorLink: `sip:${AGENTS.john.username}@${DOMAIN}` } }),
    resource('Number', 'number-failover', { trunkRef: 'trunk-failover', location: { telUrl: 'tel:+15550000000' } }),
    resource('Trunk', 'trunk-main', { inbound: { uri: CARRIER_HOST }, outbound: { uris: [uri(carrier.main, 10)] } }),
    resource('Trunk', 'trunk-failover', { outbound: { uris: [uri(carrier.down, 10), uri(carrier.up, 20)] } }),
  ];
}

export interface Keys {
  /** A PEM public key file for spec.host.tokens. */
  publicKeyFile: string;
  /** X-Connect-Token values, by Peer name, for John calling that Peer. */
  tokens: Record<keyof typeof PEERS, string>;
  /** A well-formed token for the voice Peer signed with a key routr does not trust. */
  forged: string;
}

export async function connectKeys(dir: string): Promise<Keys> {
  const trusted = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicKeyFile = join(dir, 'connect-token.pub.pem');
  writeFileSync(publicKeyFile, trusted.publicKey.export({ type: 'spki', format: 'pem' }));
  const claims = (peer: (typeof PEERS)[keyof typeof PEERS]) => ({
    ref: 'agent-john',
    domainRef: 'domain-01',
    aor: `sip:${AGENTS.john.username}@${DOMAIN}`,
    aorLink: peer.aor,
    domain: DOMAIN,
    privacy: 'NONE',
    allowedMethods: ['INVITE', 'REGISTER'],
  });
  const sign = (payload: Record<string, unknown>, key: typeof trusted.privateKey) =>
    new SignJWT(payload).setProtectedHeader({ alg: 'ES256', typ: 'JWT' }).setIssuedAt().setExpirationTime('1h').sign(key);
  return {
    publicKeyFile,
    tokens: { voice: await sign(claims(PEERS.voice), trusted.privateKey), media: await sign(claims(PEERS.media), trusted.privateKey) },
    forged: await sign(claims(PEERS.voice), other.privateKey),
  };
}

/** The host part of the Server document: Connect as the fallback processor, a short nonce lifetime, the token key. */
export function connectHostSpec(resourcesDir: string, keys: Keys): SpecOverrides {
  return {
    host: {
      processors: [
        {
          ref: 'connect',
          isFallback: true,
          // sipp 3.6 answers only the first challenge and knows no SHA-256: offer MD5 first (both are offered).
          config: { algorithms: ['MD5', 'SHA-256'] },
        },
      ],
      auth: { nonceTtlSeconds: NONCE_TTL_SECONDS },
      tokens: { publicKey: keys.publicKeyFile },
    },
    resources: { provider: 'files', path: resourcesDir },
  } as SpecOverrides;
}

/** routr under test: where sipp sends, and (on NATS) how much each host processed. */
export interface Bed {
  name: string;
  sipPort: number;
  /** The edge's HTTP port (/metrics). */
  httpPort: number;
  /** Processor calls per host process (NATS only; empty on the embedded bus). */
  hostCalls(): Promise<number[]>;
  stop(): Promise<void>;
}

/** On the embedded bus routr runs in this process; ROUTR_TEST_LOG=debug shows its log (spawned ones log anyway). */
export async function embeddedBed(spec: SpecOverrides): Promise<Bed> {
  const level = process.env.ROUTR_TEST_LOG;
  const routr = await startRoutr(spec, level ? { logger: createLogger({ level, destination: process.stderr }) } : {});
  return { name: 'embedded', sipPort: routr.sipPort, httpPort: routr.httpPort, hostCalls: async () => [], stop: () => routr.stop() };
}

/** One edge and two hosts, each its own `routr start` process, over a nats-server with JetStream (location, nonces). */
export async function natsBed(spec: SpecOverrides): Promise<Bed> {
  const nats: NatsServerHandle = await startNatsServer({ jetstream: true });
  const bus = { url: nats.url };
  const started: SpawnedRoutr[] = [];
  try {
    const hosts = await Promise.all([0, 1].map(async () => spawnRoutr(await testConfig({ ...spec, bus }), { role: 'host' })));
    started.push(...hosts);
    const edge = await spawnRoutr(await testConfig({ bus }), { role: 'edge' });
    started.push(edge);
    return {
      name: 'nats',
      sipPort: edge.sipPort,
      httpPort: edge.httpPort,
      hostCalls: () => Promise.all(hosts.map((h) => metricValue(h.httpPort, 'routr_processor_calls_total'))),
      stop: async () => {
        const codes = await Promise.all(started.map((p) => p.stop()));
        await nats.stop();
        assert.deepEqual(codes, [0, 0, 0], `hosts and edge exit 0 on SIGTERM\n${started.map((p) => p.output()).join('\n')}`);
      },
    };
  } catch (err) {
    await Promise.all(started.map((p) => p.stop('SIGKILL')));
    await nats.stop();
    throw err;
  }
}

export interface SippRun {
  scenario: string;
  /** sipp's -s: the callee, or the user registering. */
  service?: string;
  localPort?: number;
  localIp?: string;
  calls?: number;
  /** Concurrent calls (-l); 1 places them one after another. */
  limit?: number;
  rate?: number;
  /** -d: how long `<pause/>` holds (a call before its INFO and BYE; the stale-nonce wait). */
  pauseMs?: number;
  /** -au/-ap for [authentication], and -auth_uri (the digest uri, without `sip:`). */
  auth?: { username: string; password: string; uri: string };
  keys?: Record<string, string>;
  /** UAC: send to routr; UAS runs leave it out. */
  remotePort?: number;
  timeoutSeconds?: number;
}

export interface SippOutcome extends SippResult {
  /** The tail of every message sipp sent and received (-trace_msg), for failure messages. */
  messages: string;
  /** The whole message log. */
  messageFile: string;
}

/** sipp runs of one suite; each keeps its message log under `dir` so a failure can show the SIP it saw. */
export class SippRunner {
  #count = 0;
  readonly #running = new Set<SippProcess>();
  constructor(readonly dir: string) {}

  /** Stop whatever still runs (a UAS left behind by a failed test) so the suite can end. */
  async stopAll(): Promise<void> {
    const left = [...this.#running];
    for (const sipp of left) sipp.kill();
    await Promise.all(left.map((sipp) => sipp.result.catch(() => undefined)));
  }

  /** Starts sipp on `run.localPort`, or on a free port: never sipp's default 5060, which another run may hold. */
  async start(run: SippRun): Promise<{ result: Promise<SippOutcome>; kill(): void; messageFile: string }> {
    const localPort = run.localPort ?? (await freeSipPort());
    const messageFile = join(this.dir, `${String(++this.#count).padStart(3, '0')}-${run.scenario.replace(/\.xml$/, '')}.log`);
    const args = ['-trace_msg', '-message_file', messageFile];
    if (run.localIp) args.push('-i', run.localIp); // after the helper's own -i 127.0.0.1: sipp keeps the last
    if (run.pauseMs !== undefined) args.push('-d', String(run.pauseMs));
    if (run.auth) args.push('-au', run.auth.username, '-ap', run.auth.password, '-auth_uri', run.auth.uri);
    for (const [key, value] of Object.entries(run.keys ?? {})) args.push('-key', key, value);
    const sipp: SippProcess = runSipp({
      scenario: run.scenario,
      remote: run.remotePort ? `127.0.0.1:${run.remotePort}` : undefined,
      localPort,
      service: run.service,
      calls: run.calls,
      limit: run.limit,
      rate: run.rate,
      timeoutSeconds: run.timeoutSeconds ?? 20,
      args,
    });
    this.#running.add(sipp);
    void sipp.result.finally(() => this.#running.delete(sipp)).catch(() => undefined);
    const result = sipp.result.then((r) => ({ ...r, messageFile, messages: existsSync(messageFile) ? readFileSync(messageFile, 'utf8').slice(-6000) : '' }));
    return { result, kill: sipp.kill, messageFile };
  }

  async run(run: SippRun): Promise<SippOutcome> {
    return (await this.start(run)).result;
  }
}

/** sipp counted exactly `calls` successful calls and no failed one, and exited 0. */
export function expectCalls(result: SippOutcome, calls: number, what: string): void {
  const detail = `\n--- sipp errors ---\n${result.errors}\n--- messages (tail) ---\n${result.messages}`;
  assert.equal(result.failed, 0, `${what}: sipp counted ${result.failed} failed calls${detail}`);
  assert.equal(result.successful, calls, `${what}: expected ${calls} successful calls, sipp counted ${result.successful}${detail}`);
  assert.equal(result.code, 0, `${what}: sipp exit code ${result.code}${detail}\n${result.stderr}`);
}

/** A sipp UAS (an Agent's phone, a Peer backend, the carrier) on `port`, after registering that port if asked. */
export interface Uas {
  port: number;
  /** Its message log, readable while it runs. */
  messageFile: string;
  /** Wait for it to have finished its -m calls (or stop it after `graceMs`), and return what it counted. */
  finish(graceMs?: number): Promise<SippOutcome>;
}

export async function startUas(sipp: SippRunner, options: { scenario: string; port: number; calls?: number }): Promise<Uas> {
  const uas = await sipp.start({ scenario: options.scenario, localPort: options.port, calls: options.calls, timeoutSeconds: 60 });
  let exited = false;
  void uas.result.then(() => (exited = true));
  // sipp binds at once; give it a moment before the first INVITE arrives.
  await new Promise((r) => setTimeout(r, 250));
  if (exited) assert.fail(`sipp UAS on port ${options.port} exited at start: ${(await uas.result).stderr}`);
  return {
    port: options.port,
    messageFile: uas.messageFile,
    finish: async (graceMs = 2000) => {
      const timer = setTimeout(() => uas.kill(), graceMs);
      const result = await uas.result;
      clearTimeout(timer);
      return result;
    },
  };
}

/** The requests with `method` a sipp received, as text, from its message log (a finished run's, or a running UAS's). */
export function receivedRequests(from: { messageFile: string }, method: string): string[] {
  if (!existsSync(from.messageFile)) return [];
  return readFileSync(from.messageFile, 'utf8')
    .split(/^-{20,}.*$/m)
    .filter((block) => /message received/.test(block))
    .map((block) => block.replace(/^[\s\S]*?message received[^\n]*\n\s*/, ''))
    .filter((message) => message.startsWith(`${method} `))
    // A retransmission is the same request again: keep one per top Via (its branch).
    .filter((message, i, all) => all.findIndex((m) => topVia(m) === topVia(message)) === i);
}

function topVia(message: string): string {
  return /^(Via|v):.*$/im.exec(message)?.[0] ?? message;
}

/**
 * Every INVITE a callee received was routed as `direction` (Connect's X-Call-Direction), carries what `has`
 * matches, and nothing `lacks` matches; routr's credentials and the token never go past it.
 */
export function expectInvites(outcome: SippOutcome, calls: number, options: { direction: string; has?: RegExp[]; lacks?: RegExp[] }): void {
  const invites = receivedRequests(outcome, 'INVITE');
  assert.equal(invites.length, calls, `expected ${calls} INVITEs in ${outcome.messageFile}`);
  const lacks = [/^(Proxy-)?Authorization:/im, /^X-Connect-Token:/im, ...(options.lacks ?? [])];
  for (const invite of invites) {
    assert.match(invite, new RegExp(`^X-Call-Direction: ${options.direction}\\r?$`, 'im'), invite);
    for (const pattern of options.has ?? []) assert.match(invite, pattern, invite);
    for (const pattern of lacks) assert.doesNotMatch(invite, pattern, invite);
  }
}
