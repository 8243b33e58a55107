/**
 * Hot swap under load: sipp places calls at a steady 100 calls/s (INVITE, 180, 200, ACK, BYE, 200 through
 * routr) while the routing plugin is replaced ten times through the management API and rolled back once.
 * Not one call may fail. Embedded (one process), then over NATS with two host processes and an edge process,
 * where every swap must reach both hosts (each host's own API shows it) before the next one.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { PluginBundle } from '../../core/plugins/bundle.js';
import { fixtureBundle, testPluginsDir, variant } from '../helpers/plugins.js';
import { freeSipPort, spawnRoutr, startRoutr, testConfig, type RunningRoutr, type SpawnedRoutr } from '../helpers/routr.js';
import { runSipp, type SippProcess } from '../helpers/sipp.js';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { sleep, waitFor } from '../helpers/wait.js';

const TOKEN = 'hotswap-test-token-0123456789';
const RATE = 100;
const CALLS = 1200;
const SWAPS = 10;

interface Applied {
  outcome: string;
  version: string;
}

async function api(httpPort: number, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/api/v1/plugins${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function servedVersion(httpPort: number): Promise<string | undefined> {
  const { body } = await api(httpPort, 'GET', '/versioned');
  return body.version as string | undefined;
}

function processors(uasPort: number) {
  return [{ ref: 'app', plugin: 'versioned', isFallback: true, config: { target: `sip:127.0.0.1:${uasPort}` } }];
}

async function startUas(): Promise<{ port: number; sipp: SippProcess }> {
  const port = await freeSipPort();
  const sipp = runSipp({ scenario: 'uas-answer-200.xml', localPort: port });
  await sleep(300);
  return { port, sipp };
}

function startCalls(sipPort: number): SippProcess {
  return runSipp({
    scenario: 'uac-expect-200.xml',
    remote: `127.0.0.1:${sipPort}`,
    service: '1000',
    calls: CALLS,
    rate: RATE,
    limit: 200,
    timeoutSeconds: 60,
    args: ['-d', '100'],
  });
}

/**
 * Ten installs and one rollback through `installOn`'s API while calls run; `everywhere` lists the hosts that
 * must serve each version before the next step. Returns the versions in the order they served.
 */
async function swapUnderLoad(installOn: number, everywhere: number[]): Promise<string[]> {
  const base = fixtureBundle('versioned');
  const served: string[] = [];
  const settle = async (version: string) => {
    for (const port of everywhere) await waitFor(async () => (await servedVersion(port)) === version, { timeoutMs: 10_000, what: `version ${version} on host :${port}` });
    served.push(version);
    await sleep(300);
  };
  for (let i = 1; i <= SWAPS; i++) {
    const bundle: PluginBundle = variant(base, `1.1.${i}`);
    const { status, body } = await api(installOn, 'POST', '', bundle);
    assert.equal(status, 201, JSON.stringify(body));
    assert.deepEqual((body.applied as Applied[]).map((a) => [a.outcome, a.version]), [['swapped', `1.1.${i}`]]);
    await settle(`1.1.${i}`);
  }
  const { status, body } = await api(installOn, 'POST', '/versioned/rollback');
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal((body.applied as Applied[])[0].version, `1.1.${SWAPS - 1}`);
  await settle(`1.1.${SWAPS - 1}`);
  return served;
}

async function expectClean(calls: SippProcess): Promise<void> {
  const result = await calls.result;
  assert.equal(result.failed, 0, `sipp reported failed calls\n${result.errors}\n${result.stdout}`);
  assert.equal(result.successful, CALLS, `expected ${CALLS} successful calls\n${result.errors}\n${result.stdout}`);
  assert.equal(result.code, 0, `sipp exit code ${result.code}\n${result.stderr}`);
}

describe('e2e plugins - hot swap under load on the embedded bus', () => {
  let uas: Awaited<ReturnType<typeof startUas>>;
  let routr: RunningRoutr;
  const store = mkdtempSync(join(tmpdir(), 'routr-hotswap-'));

  before(async () => {
    uas = await startUas();
    routr = await startRoutr({
      host: { pluginsDir: testPluginsDir, pluginStore: { path: store }, processors: processors(uas.port) },
      http: { apiToken: TOKEN },
    });
  });

  after(async () => {
    await routr?.stop();
    uas?.sipp.kill();
    await uas?.sipp.result;
    rmSync(store, { recursive: true, force: true });
  });

  test(`e2e plugins embedded - ${CALLS} calls at ${RATE}/s while the plugin is swapped ${SWAPS} times and rolled back once: 0 failed`, async () => {
    const calls = startCalls(routr.sipPort);
    await sleep(1000);
    const served = await swapUnderLoad(routr.httpPort, [routr.httpPort]);
    assert.equal(served.length, SWAPS + 1);
    await expectClean(calls);
    const { body } = await api(routr.httpPort, 'GET', '/versioned');
    assert.equal(body.failures, 0);
  });
});

describe('e2e plugins - hot swap under load over NATS with two hosts and an edge', () => {
  let nats: NatsServerHandle;
  let uas: Awaited<ReturnType<typeof startUas>>;
  let hosts: SpawnedRoutr[] = [];
  let edge: SpawnedRoutr;

  before(async () => {
    nats = await startNatsServer({ jetstream: true });
    uas = await startUas();
    const bus = { url: nats.url };
    hosts = await Promise.all(
      [1, 2].map(async () => spawnRoutr(await testConfig({ bus, host: { pluginsDir: testPluginsDir, processors: processors(uas.port) }, http: { apiToken: TOKEN } }), { role: 'host' })),
    );
    edge = await spawnRoutr(await testConfig({ bus }), { role: 'edge' });
  });

  after(async () => {
    const codes = await Promise.all([edge?.stop(), ...hosts.map((h) => h.stop())]);
    uas?.sipp.kill();
    await uas?.sipp.result;
    await nats?.stop();
    assert.deepEqual(codes, [0, 0, 0], 'edge and hosts exit 0 on SIGTERM');
  });

  test(`e2e plugins nats - ${CALLS} calls at ${RATE}/s while both hosts swap ${SWAPS} times and roll back once: 0 failed`, async () => {
    const calls = startCalls(edge.sipPort);
    await sleep(1000);
    const served = await swapUnderLoad(hosts[0].httpPort, hosts.map((h) => h.httpPort));
    assert.equal(served.length, SWAPS + 1);
    await expectClean(calls);
    for (const host of hosts) {
      const { body } = await api(host.httpPort, 'GET', '/versioned');
      assert.equal(body.failures, 0);
      assert.ok((body.calls as number) > 0, 'both hosts took calls');
      assert.deepEqual(body.installed, [...Array.from({ length: 4 }, (_, i) => `1.1.${SWAPS - 4 + i}`)], 'the store keeps the last versions, minus the one rolled back');
    }
  });
});
