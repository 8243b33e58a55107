/**
 * `routr plugin ...` against a running server: the real CLI (a child process) talks to a real `routr start`
 * (another child process) through the management API, and SIP requests show which version answers after each
 * step — install from a directory and from a .tgz, refusals with the reason, list, disable/enable, an open
 * circuit shown by list and closed by enable, rollback, remove; plus token, reachability and usage errors, and
 * `routr plugin test` with no server.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dump } from 'js-yaml';
import type { PluginBundle } from '../../core/plugins/bundle.js';
import { isRequest, type SipResponse } from '../../core/sip/types.js';
import { fixtureBundle, testPluginsDir, variant } from '../helpers/plugins.js';
import { spawnRoutr, testConfig, type SpawnedRoutr } from '../helpers/routr.js';
import { requestText, TestUA } from '../helpers/ua.js';
import { cliCommand } from '../helpers/runtime.js';

const TOKEN = 'cli-test-token-0123456789';
const work = mkdtempSync(join(tmpdir(), 'routr-plugin-cli-'));
after(() => rmSync(work, { recursive: true, force: true }));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function routr(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    const [command, argv] = cliCommand(args, { nodeFlags: [] });
    const child = spawn(command, argv, { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A plugin directory holding `bundle` (what an author would have on disk). */
function writeDir(name: string, bundle: PluginBundle): string {
  const dir = join(work, name);
  mkdirSync(join(dir, 'fixtures'), { recursive: true });
  writeFileSync(join(dir, 'plugin.yaml'), dump(bundle.manifest));
  writeFileSync(join(dir, bundle.manifest.spec.entry), bundle.source);
  writeFileSync(join(dir, 'fixtures', 'all.yaml'), dump(bundle.fixtures.map(({ file: _file, ...f }) => f)));
  return dir;
}

describe('plugins cli - against a running server', () => {
  let server: SpawnedRoutr;
  let ua: TestUA;
  const versioned = fixtureBundle('versioned');
  const plugin = (...args: string[]) => routr(['plugin', ...args, '--url', `http://127.0.0.1:${server.httpPort}`], { ROUTR_API_TOKEN: TOKEN });

  /** The list straight from the API (the CLI's --json shows the same). */
  async function api(): Promise<Array<{ ref: string; state: string; failures: number }>> {
    const res = await fetch(`http://127.0.0.1:${server.httpPort}/api/v1/plugins`, { headers: { authorization: `Bearer ${TOKEN}` } });
    return ((await res.json()) as { plugins: Array<{ ref: string; state: string; failures: number }> }).plugins;
  }

  /** OPTIONS through the edge; the reason phrase says which version answered. */
  async function sip(headers: string[] = []): Promise<{ status: number; reason: string }> {
    const callId = `cli-${Math.random().toString(36).slice(2)}@test`;
    const received = ua.waitFor((m) => !isRequest(m) && m.status >= 200 && m.headers['call-id'] === callId, 3000);
    ua.send(requestText({ method: 'OPTIONS', uri: 'sip:app@127.0.0.1', ua, callId, headers }), { host: '127.0.0.1', port: server.sipPort });
    const { message } = await received;
    return { status: (message as SipResponse).status, reason: (message as SipResponse).reason };
  }

  before(async () => {
    const config = await testConfig({
      host: {
        pluginsDir: testPluginsDir,
        pluginStore: { path: join(work, 'store') },
        circuitBreaker: { failures: 3, coolDownMs: 60_000 },
        processors: [
          { ref: 'app', plugin: 'versioned', matchFunc: "req => req.message.uri.startsWith('sip:app@')" },
          { ref: 'fallback', plugin: 'testkit', isFallback: true, config: { status: 299, reason: 'Fallback' } },
        ],
      },
      http: { apiToken: TOKEN },
    });
    server = await spawnRoutr(config);
    ua = await TestUA.udp();
  });

  after(async () => {
    await ua?.close();
    await server?.stop();
  });

  test('plugins cli - list shows each plugin with version, state, calls and failures', async () => {
    const r = await plugin('list');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^REF\s+VERSION\s+STATE\s+CALLS\s+FAILURES/m);
    assert.match(r.stdout, /^versioned\s+1\.0\.0\s+closed\s+0\s+0\s+-\s+app$/m);
    assert.match(r.stdout, /^testkit\s+1\.0\.0\s+closed/m);
  });

  test('plugins cli - install from a directory swaps the new version in on the running server', async () => {
    const r = await plugin('install', writeDir('v110', variant(versioned, '1.1.0')));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /installed versioned@1\.1\.0\n {2}app: swapped, serving versioned@1\.1\.0, closed/);
    assert.deepEqual(await sip(), { status: 200, reason: 'v1.1.0' });
  });

  test('plugins cli - install from a .tgz', async () => {
    writeDir('v120', variant(versioned, '1.2.0'));
    const archive = join(work, 'v120.tgz');
    const tar = await new Promise<number | null>((resolve) => spawn('tar', ['czf', archive, '-C', work, 'v120']).on('exit', resolve));
    assert.equal(tar, 0);
    const r = await plugin('install', archive);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await sip(), { status: 200, reason: 'v1.2.0' });
  });

  test('plugins cli - versions that fail fixtures, do not compile or reuse a version number are refused with the reason (exit 1)', async () => {
    const [fixtures, syntax, reused] = await Promise.all([
      plugin('install', writeDir('bad', variant(versioned, '1.3.0', { source: (s) => s.replace('status: config.status', 'status: 500') }))),
      plugin('install', writeDir('syntax', variant(versioned, '1.4.0', { source: (s) => s + '\n}}}' }))),
      plugin('install', writeDir('same', variant(versioned, '1.1.0', { source: (s) => s + '\n// changed' }))),
    ]);
    assert.equal(fixtures.code, 1);
    assert.match(fixtures.stderr, /versioned@1\.3\.0 refused: .*fixtures failed/);
    assert.match(fixtures.stderr, /fixtures\/all\.yaml "answers with its version": expected/);
    assert.equal(syntax.code, 1);
    assert.match(syntax.stderr, /versioned@1\.4\.0 refused: .*does not load.*SyntaxError/);
    assert.equal(reused.code, 1);
    assert.match(reused.stderr, /versioned@1\.1\.0 is already installed with different content/);
    assert.deepEqual(await sip(), { status: 200, reason: 'v1.2.0' }, 'the old version keeps serving');
  });

  test('plugins cli - disable sends requests to the next processor; enable brings the plugin back', async () => {
    let r = await plugin('disable', 'versioned');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /disabled versioned\n {2}app: unchanged, serving versioned@1\.2\.0, disabled/);
    assert.deepEqual(await sip(), { status: 299, reason: 'Fallback' });
    assert.equal((await api()).find((p) => p.ref === 'versioned')?.state, 'disabled');
    r = await plugin('enable', 'versioned');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await sip(), { status: 200, reason: 'v1.2.0' });
  });

  test('plugins cli - a plugin that keeps failing shows as open in list; enable closes it at once', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await sip(['X-Test: throw'])).status, 500);
    assert.deepEqual(await sip(), { status: 299, reason: 'Fallback' }, 'requests fall through while it is open');
    const list = await plugin('list');
    assert.match(list.stdout, /^versioned\s+1\.2\.0\s+open\s+\d+\s+3\s/m);
    const metrics = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
    assert.match(metrics, /routr_plugin_state\{plugin="versioned",processor="app",state="open"\} 1/);
    assert.equal((await plugin('enable', 'versioned')).code, 0);
    assert.equal((await api()).find((p) => p.ref === 'versioned')?.state, 'closed');
    assert.deepEqual(await sip(), { status: 200, reason: 'v1.2.0' });
  });

  test('plugins cli - rollback returns to the previous version', async () => {
    const r = await plugin('rollback', 'versioned');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /rolled back versioned to 1\.1\.0/);
    assert.deepEqual(await sip(), { status: 200, reason: 'v1.1.0' });
  });

  test('plugins cli - remove falls back to the directory version; removing again fails', async () => {
    let r = await plugin('remove', 'versioned');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await sip(), { status: 200, reason: 'v1.0.0' });
    const [again, rollback] = await Promise.all([plugin('remove', 'versioned'), plugin('rollback', 'versioned')]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /plugin "versioned" is not in the store/);
    assert.equal(rollback.code, 1);
  });

  test('plugins cli - a wrong token is refused', async () => {
    const r = await routr(['plugin', 'list', '--url', `http://127.0.0.1:${server.httpPort}`, '--token', 'not-the-token']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /wrong bearer token/);
  });
});

describe('plugins cli - without a server', () => {
  test('plugins cli - an unreachable server is exit 1 naming the url', async () => {
    const r = await routr(['plugin', 'list', '--url', 'http://127.0.0.1:9', '--token', 'some-token-0123456789']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot reach routr at http:\/\/127\.0\.0\.1:9/);
  });

  test('plugins cli - usage errors exit 2', async () => {
    const cases = [['plugin'], ['plugin', 'frobnicate', 'x'], ['plugin', 'remove'], ['plugin', 'list', '--colour']];
    const runs = await Promise.all(cases.map((args) => routr(args)));
    runs.forEach((r, i) => assert.equal(r.code, 2, `${cases[i].join(' ')}: ${r.stderr}`));
  });

  test('plugins cli - plugin test runs the fixtures locally: exit 0 when they pass', async () => {
    const r = await routr(['plugin', 'test', join(testPluginsDir, 'versioned')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /versioned@1\.0\.0\n {2}ok {4}fixtures\/answers\.yaml "answers with its version"/);
    assert.match(r.stdout, /3 passed, 0 failed/);
  });

  test('plugins cli - plugin test --engine runs the fixtures on the engine named; an unknown one is a usage error', async () => {
    for (const engine of ['quickjs', 'isolated-vm']) {
      const r = await routr(['plugin', 'test', '--engine', engine, join(testPluginsDir, 'versioned')]);
      assert.equal(r.code, 0, `${engine}: ${r.stderr}`);
      assert.match(r.stdout, /3 passed, 0 failed/);
    }
    const bad = await routr(['plugin', 'test', '--engine', 'v8', join(testPluginsDir, 'versioned')]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--engine must be one of auto, isolated-vm, quickjs/);
    assert.equal((await routr(['plugin', 'list', '--engine', 'quickjs'])).code, 2);
  });

  test('plugins cli - plugin test exits 1 naming the failing fixture and why', async () => {
    const dir = writeDir('failing', variant(fixtureBundle('versioned'), '0.0.1', { source: (s) => s.replace('status: config.status', 'status: 486') }));
    const r = await routr(['plugin', 'test', dir]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /FAIL {2}fixtures\/all\.yaml "answers with its version": expected \{"action":"respond","status":200\}, got \{"action":"respond","status":486/);
    assert.match(r.stdout, /2 passed, 1 failed/);
  });
});
