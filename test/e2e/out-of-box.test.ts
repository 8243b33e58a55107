/**
 * Works out of the box, still secure: routr started with the default config (ports moved to free ones, the
 * example resources with the Trunk pointed at a sipp carrier) and no token anywhere writes one to
 * `.routr/api-token` next to the config (0600) and listens on loopback; then, with no token given, `routr
 * status`, `routr plugin install plugins/examples/blocklist`, a sipp call and `routr trace <its Call-ID>` all
 * work, `routr console` logs a browser in with a read-only cookie, and a restart keeps the token. A public
 * bindAddr without a token keeps the API off; a configured token writes no file. Every verb has --help.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { dump, load } from 'js-yaml';
import { packagePath } from '../../core/paths.js';
import { freeSipPort, freeTcpPort, startRoutr, waitReady } from '../helpers/routr.js';
import { cliCommand } from '../helpers/runtime.js';
import { runSipp } from '../helpers/sipp.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);

/** The environment of a user who configured nothing. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  for (const name of ['ROUTR_API_TOKEN', 'ROUTR_URL', 'ROUTR_STATE_DIR', 'ROUTR_CONFIG']) if (!(name in extra)) delete env[name];
  return env;
}

async function routr(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const [command, argv] = cliCommand(args);
    const { stdout, stderr } = await run(command, argv, { env: cleanEnv(env), timeout: 30000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('out of the box', () => {
  const dir = mkdtempSync(join(tmpdir(), 'routr-oob-'));
  const file = join(dir, 'routr.yaml');
  let sipPort: number;
  let httpPort: number;
  let carrierPort: number;
  let server: ChildProcess | undefined;
  let output = '';

  async function start(): Promise<void> {
    output = '';
    const [command, argv] = cliCommand(['start', '--config', file]);
    server = spawn(command, argv, { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    server.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    server.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise((resolve) => server?.once('exit', resolve));
    await waitReady(httpPort, exited, 40000).catch((err: Error) => {
      throw new Error(`${err.message}\n${output}`);
    });
  }

  async function stop(): Promise<void> {
    if (!server || server.exitCode !== null) return;
    const exited = new Promise((resolve) => server?.once('exit', resolve));
    server.kill('SIGTERM');
    await exited;
  }

  before(async () => {
    sipPort = await freeSipPort();
    httpPort = await freeTcpPort();
    carrierPort = await freeSipPort();
    // The example resources, with the Trunk's carrier where this test's sipp answers.
    cpSync(packagePath('config', 'examples', 'valid'), join(dir, 'resources'), { recursive: true });
    const trunk = join(dir, 'resources', 'trunk.yaml');
    writeFileSync(trunk, readFileSync(trunk, 'utf8').replace('port: 5070', `port: ${carrierPort}`));
    // The default config as shipped, on free ports: no http.bindAddr, no apiToken.
    const config = load(readFileSync(packagePath('config', 'routr.yaml'), 'utf8')) as { spec: Record<string, Record<string, unknown>> };
    config.spec.edge.bindAddr = '127.0.0.1';
    config.spec.edge.transports = [{ protocol: 'udp', port: sipPort }, { protocol: 'tcp', port: sipPort }];
    config.spec.edge.drainTimeoutMs = 2000; // a restart need not wait out the production drain
    config.spec.http = { port: httpPort };
    config.spec.resources = { provider: 'files', path: './resources' };
    config.spec.logging = { level: 'info' };
    writeFileSync(file, dump(config));
    await start();
  });

  after(async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('out of the box - the first start writes a 0600 token to .routr/api-token next to the config and binds loopback', async () => {
    const tokenFile = join(dir, '.routr', 'api-token');
    assert.ok(existsSync(tokenFile), output);
    assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, '.routr')).mode & 0o777, 0o700);
    assert.match(readFileSync(tokenFile, 'utf8').trim(), /^[A-Za-z0-9_-]{43}$/);
    assert.match(output, /"bindAddr":"127\.0\.0\.1"/);
    assert.match(output, /wrote a new one to the state directory/);
    assert.doesNotMatch(output, new RegExp(readFileSync(tokenFile, 'utf8').trim()), 'the token is never logged');
    assert.equal((await fetch(`http://127.0.0.1:${httpPort}/api/v1/status`)).status, 401, 'without the token: refused');
  });

  test('out of the box - status, plugin install, a sipp call and its trace, with no token given', async () => {
    const status = await routr(['status', '--config', file]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /role all .* ready/);
    assert.match(status.stdout, /bus +memory \(connected\)/);
    assert.match(status.stdout, /processor connect: connect@1\.0\.0, closed/);
    assert.match(status.stdout, /3 Agent/);

    const install = await routr(['plugin', 'install', packagePath('plugins', 'examples', 'blocklist'), '--config', file]);
    assert.equal(install.code, 0, install.stderr);
    assert.match(install.stdout, /installed blocklist@1\.0\.0/);
    assert.match(install.stderr, /packing .*blocklist/, 'progress on stderr');
    assert.match(install.stderr, /runs the fixtures/);

    // routr trace --follow, started before the call, prints its start and, when it ends, its ladder.
    const [command, argv] = cliCommand(['trace', '--follow', '--config', file]);
    const follower = spawn(command, argv, { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let followed = '';
    follower.stdout?.on('data', (d: Buffer) => (followed += d.toString()));
    follower.stderr?.on('data', (d: Buffer) => (followed += d.toString()));
    const followerExit = new Promise<number | null>((resolve) => follower.once('exit', resolve));
    await waitFor(() => followed.includes('following calls on'), { timeoutMs: 10000, what: 'trace --follow to connect' });
    const carrier = runSipp({ scenario: 'connect-uas-answer-200.xml', localPort: carrierPort, calls: 1, timeoutSeconds: 20 });
    await new Promise((r) => setTimeout(r, 300));
    const call = await runSipp({
      scenario: 'connect-auth-call-expect-200.xml', remote: `127.0.0.1:${sipPort}`, calls: 1, service: '+19195551234', timeoutSeconds: 20,
      args: ['-key', 'caller', '1001', '-key', 'from_host', 'sip.local', '-key', 'to_host', 'sip.local', '-key', 'extra_header', 'X-Demo: 1', '-au', '1001', '-ap', '1234'],
    }).result;
    assert.equal(call.successful, 1, `${call.errors}\n${call.stdout}`);
    await carrier.result;
    await waitFor(() => /■ \S+ ended: bye 200/.test(followed) && /◀─+ 200 OK \(BYE\) ─+│/.test(followed), { timeoutMs: 10000, what: "the followed call's ladder" }).catch((err: Error) => {
      throw new Error(`${err.message}; trace --follow printed:\n${followed}`);
    });
    assert.match(followed, /▶ \S+ started at edge-01: sip:1001@sip\.local → sip:\+19195551234@sip\.local \(agent-to-pstn\)/);
    follower.kill('SIGINT');
    assert.equal(await followerExit, 0, 'Ctrl-C ends --follow cleanly');

    const listed = await routr(['trace', '--list', '--config', file]);
    assert.equal(listed.code, 0, listed.stderr);
    const line = listed.stdout.split('\n').find((l) => l.includes('INVITE sip:+19195551234@sip.local'));
    assert.ok(line, listed.stdout);
    const callId = line.trim().split(/\s+/)[4];
    const trace = await routr(['trace', callId, '--config', file, '--full']);
    assert.equal(trace.code, 0, trace.stderr);
    assert.match(trace.stdout, new RegExp(`Call-ID ${callId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    assert.match(trace.stdout, /caller +edge-01 +trunk/);
    assert.match(trace.stdout, /│─+ INVITE ─+▶│/);
    assert.match(trace.stdout, /◀.* 407 Proxy Authentic/);
    assert.match(trace.stdout, /▸ INVITE: connect → forward agent-to-pstn to sip:\+19195551234@127\.0\.0\.1/);
    assert.match(trace.stdout, /◀─+ 200 OK \(BYE\) ─+│/);
    assert.match(trace.stdout, /Proxy-Authorization: Digest username="1001", realm="sip.local", \[redacted\]/);
    assert.doesNotMatch(trace.stdout, /response="/, 'no digest response in a trace');

    const unknown = await routr(['trace', 'no-such-call@nowhere', '--config', file]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no edge holds a trace of Call-ID no-such-call@nowhere/);
  });

  test('out of the box - routr console logs the browser in with an HttpOnly cookie that can read but not change', async () => {
    const printed = await routr(['console', '--config', file]);
    assert.equal(printed.code, 0, printed.stderr);
    const url = printed.stdout.trim();
    assert.match(url, new RegExp(`^http://127\\.0\\.0\\.1:${httpPort}/console/\\?token=`));
    const login = await fetch(url, { redirect: 'manual' });
    assert.equal(login.status, 303);
    assert.equal(login.headers.get('location'), '/console/');
    const cookie = login.headers.get('set-cookie') ?? '';
    assert.match(cookie, /^routr_console=[A-Za-z0-9_-]+; HttpOnly; SameSite=Strict; Path=\//);
    assert.ok(!cookie.includes(new URL(url).searchParams.get('token') as string), 'the cookie is not the token');
    const session = cookie.split(';')[0];
    const page = await fetch(`http://127.0.0.1:${httpPort}/console/`, { headers: { cookie: session } });
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
    assert.match(await page.text(), /<title>routr console<\/title>/);
    assert.equal((await fetch(`http://127.0.0.1:${httpPort}/console/`)).status, 401, 'no cookie: no console');
    assert.equal((await fetch(`http://127.0.0.1:${httpPort}/console/?token=wrong-token-wrong-token`, { redirect: 'manual' })).status, 401);
    assert.equal((await fetch(`http://127.0.0.1:${httpPort}/api/v1/status`, { headers: { cookie: session } })).status, 200, 'the cookie reads');
    const write = await fetch(`http://127.0.0.1:${httpPort}/api/v1/plugins/connect/disable`, { method: 'POST', headers: { cookie: session } });
    assert.equal(write.status, 403, 'the cookie cannot change anything');
  });

  test('out of the box - a restart keeps the token', async () => {
    const before = readFileSync(join(dir, '.routr', 'api-token'), 'utf8');
    await stop();
    await start();
    assert.equal(readFileSync(join(dir, '.routr', 'api-token'), 'utf8'), before);
    assert.match(output, /using the one in the state directory/);
    const status = await routr(['status', '--config', file]);
    assert.equal(status.code, 0, status.stderr);
  });

  test('out of the box - with no token to be found the CLI says where it looked', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'routr-oob-empty-'));
    try {
      const r = await routr(['status', '--url', `http://127.0.0.1:${httpPort}`], { ROUTR_STATE_DIR: empty });
      assert.equal(r.code, 2);
      assert.match(r.stderr, new RegExp(`no API token: .*${join(empty, 'api-token').replace(/[/.]/g, '\\$&')}`));
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe('out of the box - the rules that stay', () => {
  test('out of the box - a public bindAddr without a token keeps the API off and writes nothing', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'routr-oob-public-'));
    const saved = process.env.ROUTR_API_TOKEN;
    delete process.env.ROUTR_API_TOKEN;
    const node = await startRoutr({ stateDir, http: { bindAddr: '0.0.0.0' } });
    try {
      assert.equal(node.server.apiAccess?.token, undefined);
      assert.equal((await fetch(`http://127.0.0.1:${node.httpPort}/api/v1/status`)).status, 403);
      assert.ok(!existsSync(join(stateDir, 'api-token')));
    } finally {
      await node.stop();
      if (saved !== undefined) process.env.ROUTR_API_TOKEN = saved;
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  test('out of the box - a configured token is the token: no file, and the bind address as configured', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'routr-oob-configured-'));
    const node = await startRoutr({ stateDir, http: { apiToken: 'configured-token-0123456789' } });
    try {
      assert.equal(node.server.apiAccess?.token, 'configured-token-0123456789');
      assert.equal(node.server.apiAccess?.bindAddr, '127.0.0.1', 'the test config binds loopback');
      assert.ok(!existsSync(join(stateDir, 'api-token')));
      const ok = await fetch(`http://127.0.0.1:${node.httpPort}/api/v1/status`, { headers: { authorization: 'Bearer configured-token-0123456789' } });
      assert.equal(ok.status, 200);
    } finally {
      await node.stop();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  test('out of the box - every command has --help with its own options', async () => {
    const expectations: Record<string, RegExp[]> = {
      start: [/--config/, /--role all\|edge\|host/, /--resources/],
      status: [/--json/, /--token/],
      trace: [/--full/, /--follow/, /--list/],
      console: [/cookie/],
      resources: [/apply -f/, /validate/],
      plugin: [/install <dir\|\.tgz>/, /rollback/],
      certs: [/--host/, /--days/],
    };
    const runs = await Promise.all(Object.keys(expectations).map((name) => routr([name, '--help'])));
    Object.entries(expectations).forEach(([name, patterns], i) => {
      assert.equal(runs[i].code, 0, `${name}: ${runs[i].stderr}`);
      assert.match(runs[i].stdout, new RegExp(`^usage: routr ${name}`));
      for (const p of patterns) assert.match(runs[i].stdout, p, `${name} --help`);
    });
    const nested = await routr(['plugin', 'install', '--help']);
    assert.equal(nested.code, 0);
    assert.match(nested.stdout, /^usage: routr plugin/);
    const top = await routr(['--help']);
    for (const name of Object.keys(expectations)) assert.match(top.stdout, new RegExp(`^  ${name}`, 'm'));
  });
});
