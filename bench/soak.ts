/**
 * `npm run soak`: authenticated Connect calls for a long time at a steady rate, watching the edge's and the
 * host's RSS. It starts a nats-server (JetStream), a host process and an edge process (the production shape),
 * a sipp UAS as the carrier and a sipp UAC as Agent 1001 (407 challenge, authenticated INVITE, INFO, BYE), and
 * samples each process's VmRSS every 10 s. At the end it prints the RSS after warm-up and at the end, and
 * fails (exit 1) on a failed call or when RSS grew by more than 10% after warm-up.
 *
 * Environment: SOAK_MINUTES (default 30), SOAK_RATE (calls/s, default 150: half Connect's clean rate on two
 * cores), SOAK_WARMUP_MINUTES (default 6: past the nonce lifetime plus the bucket's extra minute, when the
 * nonce-count state stops growing), SOAK_HEAP=1 (heap snapshots of both processes after warm-up and at the
 * end, in the current directory, for Chrome DevTools' comparison view).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeSipPort, spawnRoutr, testConfig, type SpawnedRoutr } from '../test/helpers/routr.js';
import { runSipp } from '../test/helpers/sipp.js';
import { startNatsServer } from '../test/helpers/nats-server.js';

const minutes = Number(process.env.SOAK_MINUTES ?? 30);
const rate = Number(process.env.SOAK_RATE ?? 150);
const warmupMinutes = Math.min(minutes, Number(process.env.SOAK_WARMUP_MINUTES ?? 6));
const heap = process.env.SOAK_HEAP === '1';

const RESOURCES = (uasPort: number) => `
- { apiVersion: v2beta1, kind: Domain, ref: d, spec: { context: { domainUri: sip.local, egressPolicies: [{ rule: '^\\+?[0-9]+$', numberRef: n }] } } }
- { apiVersion: v2beta1, kind: Credentials, ref: c, spec: { credentials: { username: "1001", password: "1234" } } }
- { apiVersion: v2beta1, kind: Agent, ref: a, spec: { username: "1001", domainRef: d, credentialsRef: c } }
- { apiVersion: v2beta1, kind: Number, ref: n, spec: { trunkRef: t, location: { telUrl: "tel:+19103434434" } } }
- { apiVersion: v2beta1, kind: Trunk, ref: t, spec: { inbound: { uri: carrier.invalid }, outbound: { uris: [{ uri: { host: 127.0.0.1, port: ${uasPort} } }] } } }
`;

/** JS heap in use and memory outside it (Buffers, ArrayBuffers), in MiB, from the process's own metrics. */
async function heapMiB(httpPort: number): Promise<{ heap: number; external: number }> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? NaN);
    return { heap: Math.round(value('routr_nodejs_heap_size_used_bytes') / 1048576), external: Math.round(value('routr_nodejs_external_memory_bytes') / 1048576) };
  } catch {
    return { heap: NaN, external: NaN };
  }
}

function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Math.round(Number(line?.match(/(\d+)/)?.[1] ?? 0) / 1024);
}

async function main(): Promise<void> {
  if (heap) process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --heapsnapshot-signal=SIGUSR2`.trim();
  const nats = await startNatsServer({ jetstream: true });
  const uasPort = await freeSipPort();
  const uas = runSipp({ scenario: 'connect-uas-answer-200.xml', localPort: uasPort, args: ['-buff_size', '16777216'] });
  await new Promise((r) => setTimeout(r, 300));
  const dir = mkdtempSync(join(tmpdir(), 'routr-soak-'));
  writeFileSync(join(dir, 'resources.yaml'), RESOURCES(uasPort));
  const bus = { url: nats.url };
  const logging = { level: 'warn' };
  const processes: SpawnedRoutr[] = [];
  let code = 0;
  try {
    const host = await spawnRoutr(
      await testConfig({ bus, logging, resources: { provider: 'files', path: dir }, host: { processors: [{ ref: 'connect', isFallback: true, config: { algorithms: ['MD5'] } }] } }),
      { role: 'host' },
    );
    processes.push(host);
    const edge = await spawnRoutr(await testConfig({ bus, logging }), { role: 'edge' });
    processes.push(edge);
    const roles = { edge: edge.child.pid!, host: host.child.pid! };
    process.stdout.write(`routr soak: ${rate} authenticated calls/s for ${minutes} min (warm-up ${warmupMinutes} min), edge and host over NATS\n`);
    process.stdout.write('minute  edge_rss_mib  host_rss_mib  edge_heap/external  host_heap/external\n');
    const calls = Math.round(rate * minutes * 60);
    const uac = runSipp({
      scenario: 'connect-auth-call-expect-200.xml',
      remote: `127.0.0.1:${edge.sipPort}`,
      service: '+15551234567',
      calls,
      rate,
      limit: Math.max(200, rate * 2),
      timeoutSeconds: minutes * 60 + 120,
      args: ['-d', '0', '-buff_size', '16777216', '-key', 'caller', '1001', '-key', 'from_host', 'sip.local', '-key', 'to_host', 'sip.local', '-key', 'extra_header', 'X-Soak: 1', '-au', '1001', '-ap', '1234'],
    });
    const samples: Array<{ minute: number; edge: number; host: number }> = [];
    const started = Date.now();
    let done = false;
    void uac.result.then(() => (done = true));
    let snapshots = 0;
    while (!done) {
      await new Promise((r) => setTimeout(r, 10_000));
      const minute = (Date.now() - started) / 60_000;
      const sample = { minute, edge: rssMiB(roles.edge), host: rssMiB(roles.host) };
      samples.push(sample);
      if (Math.abs(minute - Math.round(minute)) < 0.09) {
        const [e, h] = await Promise.all([heapMiB(edge.httpPort), heapMiB(host.httpPort)]);
        process.stdout.write(`${minute.toFixed(1).padEnd(8)}${String(sample.edge).padEnd(14)}${String(sample.host).padEnd(14)}${`${e.heap}/${e.external}`.padEnd(20)}${h.heap}/${h.external}\n`);
      }
      if (heap && snapshots === 0 && minute >= warmupMinutes) snapshots++, process.kill(roles.edge, 'SIGUSR2'), process.kill(roles.host, 'SIGUSR2');
    }
    const result = await uac.result;
    if (heap) {
      // Before the processes stop: a snapshot of a large heap takes seconds to write.
      process.kill(roles.edge, 'SIGUSR2');
      process.kill(roles.host, 'SIGUSR2');
      await new Promise((r) => setTimeout(r, 20_000));
    }
    const warm = samples.filter((s) => s.minute >= warmupMinutes);
    const first = warm[0] ?? samples[0];
    const last = samples[samples.length - 1];
    const peak = (role: 'edge' | 'host') => Math.max(...warm.map((s) => s[role]));
    process.stdout.write(`calls: ${result.successful} successful, ${result.failed} failed (of ${calls})\n`);
    for (const role of ['edge', 'host'] as const) {
      const growth = (last[role] - first[role]) / first[role];
      process.stdout.write(`${role}: rss after warm-up ${first[role]} MiB, peak ${peak(role)} MiB, at the end ${last[role]} MiB (${(growth * 100).toFixed(1)}%)\n`);
      if (growth > 0.1) code = 1;
    }
    if (result.failed > 0 || result.successful < calls) code = 1;
    process.stdout.write(`soak ${code === 0 ? 'passed' : 'FAILED'}\n`);
  } finally {
    await Promise.all(processes.map((p) => p.stop()));
    uas.kill();
    await uas.result;
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  process.exit(code);
}

main().catch((err: unknown) => {
  process.stderr.write(`soak failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
