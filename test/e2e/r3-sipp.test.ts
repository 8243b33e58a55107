/**
 * R3 end to end with real sipp: calls routed by dialled prefix to one sipp UAS and by caller address to
 * another (a sipp UAC bound to 127.0.0.2), and calls nothing routes answered 404 by the seed's default route
 * `sip:uas;status=404` — on the embedded bus, and over NATS with the edge and the host as separate processes.
 * The R3 document is a JSON file the processor config names (`config: { file }`).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freeSipPort, spawnRoutr, startRoutr, testConfig, type RunningRoutr, type SpawnedRoutr } from '../helpers/routr.js';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { runSipp, type SippProcess } from '../helpers/sipp.js';

const CALLS = 20;

interface Uas {
  port: number;
  /** Stop it and say how many calls it completed. */
  stop(): Promise<number>;
}

async function startUas(): Promise<Uas> {
  const port = await freeSipPort();
  const uas: SippProcess = runSipp({ scenario: 'uas-answer-200.xml', localPort: port });
  await new Promise((r) => setTimeout(r, 300));
  return {
    port,
    stop: async () => {
      uas.kill();
      return (await uas.result).successful;
    },
  };
}

/** The seed's selectors; a prefix map to UAS A (keeping the dialled user), an address map to UAS B; the seed's default. */
function r3Document(a: number, b: number): string {
  return JSON.stringify(
    {
      selectors: [
        { id: 'to-user', attribute: 'To', pattern: '^(sips?):([^@]+)(?:@(.+))?$', expression: '$2' },
        { id: 'remote-ip', attribute: 'Remote-IP', pattern: '^(.*)$', expression: '$1' },
      ],
      maps: [
        { type: 'address', id: 'callers', selector: 'remote-ip', map: { '127.0.0.2': { description: 'UAS B by caller address', requestUri: `sip:127.0.0.1:${b}` } } },
        { type: 'prefix', id: 'dialled', selector: 'to-user', map: { '1995': { description: 'UAS A by dialled prefix', requestUri: `sip:$2@127.0.0.1:${a}` } } },
      ],
      plan: ['callers', 'dialled'],
      defaultRoute: { id: 'default', description: 'If no translation found, apply default route.', requestUri: 'sip:uas;status=404' },
    },
    null,
    2,
  );
}

async function calls(sipPort: number, options: { user: string; from?: string; scenario?: string; count?: number }): Promise<void> {
  const count = options.count ?? CALLS;
  const localPort = await freeSipPort();
  const result = await runSipp({
    scenario: options.scenario ?? 'uac-expect-200.xml',
    remote: `127.0.0.1:${sipPort}`,
    service: options.user,
    localIp: options.from,
    localPort,
    calls: count,
    rate: 20,
    limit: 10,
    timeoutSeconds: 60,
  }).result;
  assert.equal(result.failed, 0, `sipp reported failed calls\n${result.errors}\n${result.stdout}`);
  assert.equal(result.successful, count, `expected ${count} successful calls\n${result.errors}\n${result.stdout}`);
}

/** The three kinds of calls, then each UAS's count: all prefix calls at A, all address calls at B. */
async function routeAll(sipPort: number, a: Uas, b: Uas): Promise<void> {
  await calls(sipPort, { user: '19951234567' });
  await calls(sipPort, { user: '5551234', from: '127.0.0.2' });
  // From 127.0.0.2 the address map is tried first, so its calls go to B whatever is dialled.
  await calls(sipPort, { user: '19951234567', from: '127.0.0.2', count: 5 });
  await calls(sipPort, { user: '5551234', scenario: 'uac-expect-404.xml', count: 10 });
  assert.deepEqual({ a: await a.stop(), b: await b.stop() }, { a: CALLS, b: CALLS + 5 }, 'each UAS completed the calls routed to it');
}

describe('e2e - R3 routes sipp calls on the embedded bus', () => {
  let dir: string;
  let a: Uas;
  let b: Uas;
  let routr: RunningRoutr;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'routr-r3-e2e-'));
    a = await startUas();
    b = await startUas();
    writeFileSync(join(dir, 'r3.json'), r3Document(a.port, b.port));
    routr = await startRoutr({ host: { processors: [{ ref: 'r3', config: { file: join(dir, 'r3.json') } }] } });
  });
  after(async () => {
    await routr?.stop();
    await a?.stop();
    await b?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('e2e r3 embedded - by dialled prefix to UAS A, by caller address to UAS B, the default route answers 404', async () => {
    await routeAll(routr.sipPort, a, b);
  });
});

describe('e2e - R3 routes sipp calls over NATS with edge and host as separate processes', () => {
  let dir: string;
  let nats: NatsServerHandle;
  let a: Uas;
  let b: Uas;
  let edge: SpawnedRoutr;
  let host: SpawnedRoutr;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'routr-r3-e2e-'));
    nats = await startNatsServer();
    a = await startUas();
    b = await startUas();
    writeFileSync(join(dir, 'r3.json'), r3Document(a.port, b.port));
    const bus = { url: nats.url };
    host = await spawnRoutr(await testConfig({ bus, host: { processors: [{ ref: 'r3', config: { file: join(dir, 'r3.json') } }] } }), { role: 'host' });
    edge = await spawnRoutr(await testConfig({ bus }), { role: 'edge' });
  });
  after(async () => {
    const codes = await Promise.all([edge?.stop(), host?.stop()]);
    await a?.stop();
    await b?.stop();
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(codes, [0, 0], 'edge and host exit 0 on SIGTERM');
  });

  test('e2e r3 nats - by dialled prefix to UAS A, by caller address to UAS B, the default route answers 404', async () => {
    await routeAll(edge.sipPort, a, b);
  });
});
