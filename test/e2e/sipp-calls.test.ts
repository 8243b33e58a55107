import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { packagePath } from '../../core/paths.js';
import { freeSipPort, spawnRoutr, startRoutr, testConfig, type RunningRoutr, type SpawnedRoutr } from '../helpers/routr.js';
import { runSipp } from '../helpers/sipp.js';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';

const CALLS = 200;

/** sipp UAS on a free port, answering every call; the processors route every user to it. */
async function startUas(transport: 'u1' | 't1' = 'u1'): Promise<{ port: number; stop(): Promise<void> }> {
  const port = await freeSipPort();
  const uas = runSipp({ scenario: 'uas-answer-200.xml', localPort: port, transport });
  // sipp binds immediately; give it a moment to be ready before calls arrive.
  await new Promise((r) => setTimeout(r, 300));
  return {
    port,
    stop: async () => {
      uas.kill();
      await uas.result;
    },
  };
}

function staticProcessor(uasPort: number, params = '') {
  return {
    processors: [{ ref: 'static', isFallback: true, config: { routes: [{ user: '.+', target: `sip:127.0.0.1:${uasPort}${params}` }] } }],
  };
}

async function placeCalls(sipPort: number, options: { transport?: 'u1' | 't1'; calls?: number } = {}): Promise<void> {
  const calls = options.calls ?? CALLS;
  const result = await runSipp({
    scenario: 'uac-expect-200.xml',
    remote: `127.0.0.1:${sipPort}`,
    service: '1000',
    transport: options.transport,
    calls,
    rate: 100,
    limit: 100,
    timeoutSeconds: 60,
    args: ['-d', '100'],
  }).result;
  assert.equal(result.failed, 0, `sipp reported failed calls\n${result.errors}\n${result.stdout}`);
  assert.equal(result.successful, calls, `expected ${calls} successful calls\n${result.errors}\n${result.stdout}`);
  assert.equal(result.code, 0, `sipp exit code ${result.code}\n${result.stderr}`);
}

describe('e2e - sipp calls through routr on the embedded bus', () => {
  let uas: Awaited<ReturnType<typeof startUas>>;
  let routr: RunningRoutr;

  before(async () => {
    uas = await startUas();
    routr = await startRoutr({ host: staticProcessor(uas.port) });
  });

  after(async () => {
    await routr?.stop();
    await uas?.stop();
  });

  test(`e2e embedded - ${CALLS} calls UAC → routr → UAS, 0 failed`, async () => {
    await placeCalls(routr.sipPort);
  });
});

describe('e2e - sipp calls through routr over TCP on both legs', () => {
  let uas: Awaited<ReturnType<typeof startUas>>;
  let routr: RunningRoutr;

  before(async () => {
    uas = await startUas('t1');
    // REGISTER goes to a processor that answers it (the test kit); calls go to the UAS.
    const host = staticProcessor(uas.port, ';transport=tcp');
    const registrar = { ref: 'registrar', plugin: 'testkit', methods: ['REGISTER'], config: { status: 200 } };
    routr = await startRoutr({ host: { pluginsDir: packagePath('test', 'fixtures', 'plugins'), processors: [registrar, ...host.processors] } });
  });

  after(async () => {
    await routr?.stop();
    await uas?.stop();
  });

  test('e2e tcp - sipp registers over TCP and is answered 200 on its connection', async () => {
    const result = await runSipp({ scenario: 'uac-register-expect-200.xml', remote: `127.0.0.1:${routr.sipPort}`, service: 'alice', transport: 't1', calls: 5, timeoutSeconds: 30 }).result;
    assert.equal(result.successful, 5, `expected 5 registrations\n${result.errors}\n${result.stdout}`);
    assert.equal(result.code, 0, `sipp exit code ${result.code}\n${result.stderr}`);
  });

  test('e2e tcp - 100 calls UAC → routr → UAS over TCP, 0 failed', async () => {
    await placeCalls(routr.sipPort, { transport: 't1', calls: 100 });
  });
});

describe('e2e - sipp calls through routr over NATS with edge and host as separate processes', () => {
  let nats: NatsServerHandle;
  let uas: Awaited<ReturnType<typeof startUas>>;
  let edge: SpawnedRoutr;
  let host: SpawnedRoutr;

  before(async () => {
    nats = await startNatsServer();
    uas = await startUas();
    const bus = { url: nats.url };
    host = await spawnRoutr(await testConfig({ bus, host: staticProcessor(uas.port) }), { role: 'host' });
    edge = await spawnRoutr(await testConfig({ bus }), { role: 'edge' });
  });

  after(async () => {
    const codes = await Promise.all([edge?.stop(), host?.stop()]);
    await uas?.stop();
    await nats?.stop();
    assert.deepEqual(codes, [0, 0], 'edge and host exit 0 on SIGTERM');
  });

  test(`e2e nats - ${CALLS} calls UAC → edge process → NATS → host process, 0 failed`, async () => {
    await placeCalls(edge.sipPort);
  });
});
