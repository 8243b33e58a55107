/**
 * Attack tests where a plugin author stands: plugin bundles posted to the install API of a running routr (the
 * real CLI, in a child process, so that a crash is a crash), each followed by SIP requests that must still be
 * answered as before. And an edge whose host answers with a decision that breaks the codec (a host of another
 * version, or one compromised): the edge answers 500 and keeps serving.
 *
 * Issue 10, reproductions 4 (a decision kills the edge), 5 (a refused install poisons the host) and 7
 * (matchFuncs share one array in one isolate).
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createBus } from '../../core/bus/index.js';
import type { Bus, Subscription } from '../../core/bus/types.js';
import { PROCESS_SUBJECT, HOSTS_QUEUE } from '../../core/bus/subjects.js';
import type { SipResponse } from '../../core/sip/types.js';
import { silentLogger } from '../../core/log.js';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { spawnRoutr, startRoutr, testConfig, type RunningRoutr, type SpawnedRoutr } from '../helpers/routr.js';
import { requestText, TestUA } from '../helpers/ua.js';

const TOKEN = 'security-plugins-token';

const ANSWER_SOURCE = `export function doProcess(request, { config }) { return { action: 'respond', status: config.status, reason: 'Answer' }; }\n`;

function manifest(ref: string, version: string, extra: Record<string, unknown> = {}) {
  return { apiVersion: 'v1', kind: 'Processor', ref, metadata: { name: ref, version }, spec: { entry: 'index.js', capabilities: ['log'], ...extra } };
}

async function writePlugin(dir: string, ref: string, manifestYaml: string, source: string): Promise<void> {
  await mkdir(join(dir, ref), { recursive: true });
  await writeFile(join(dir, ref, 'plugin.yaml'), manifestYaml);
  await writeFile(join(dir, ref, 'index.js'), source);
}

describe('security - plugin bundles through the install API cannot crash, poison or re-route the host', () => {
  let dir: string;
  let routr: SpawnedRoutr;
  let ua: TestUA;
  let edge: { host: string; port: number };
  let n = 0;

  const install = async (bundle: Record<string, unknown>, timeoutMs = 60_000) => {
    const res = await fetch(`http://127.0.0.1:${routr.httpPort}/api/v1/plugins`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ format: 'routr.plugin.v1', fixtures: [], ...bundle }), signal: AbortSignal.timeout(timeoutMs) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  /** The final status a request to `user` gets (undefined: no answer within 2 s). */
  const statusFor = async (user: string, method = 'OPTIONS'): Promise<number | undefined> => {
    const callId = `plugins-${++n}-${process.pid}@test`;
    ua.send(requestText({ method, uri: `sip:${user}@127.0.0.1`, ua, callId }), edge);
    try {
      return ((await ua.waitFor((m) => !('method' in m) && m.status >= 200 && m.headers['call-id'] === callId, 2000)).message as SipResponse).status;
    } catch {
      return undefined;
    }
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'routr-security-plugins-'));
    const plugins = join(dir, 'plugins');
    await writePlugin(plugins, 'app', `apiVersion: v1\nkind: Processor\nref: app\nmetadata: { name: app, version: 1.0.0 }\nspec:\n  entry: index.js\n  capabilities: [log]\n  matchFunc: "req => req.message.uri.startsWith('sip:app@')"\n  config: { status: 200 }\n`, ANSWER_SOURCE);
    await writePlugin(plugins, 'answer', `apiVersion: v1\nkind: Processor\nref: answer\nmetadata: { name: answer, version: 1.0.0 }\nspec:\n  entry: index.js\n  capabilities: [log]\n  config: { status: 200 }\n`, ANSWER_SOURCE);
    const config = await testConfig({
      http: { apiToken: TOKEN },
      host: {
        pluginsDir: plugins,
        pluginStore: { path: join(dir, 'store') },
        circuitBreaker: { failures: 1000 },
        processors: [
          { ref: 'app', plugin: 'app' },
          // The operator's own matchFunc, using Array.prototype.includes (which a plugin's matchFunc may try to replace).
          { ref: 'bee', plugin: 'answer', matchFunc: "req => [req.message.uri].includes('sip:bee@127.0.0.1')", config: { status: 480 } },
          { ref: 'cee', plugin: 'answer', isFallback: true, config: { status: 486 } },
        ],
      },
    });
    routr = await spawnRoutr(config);
    edge = { host: '127.0.0.1', port: routr.sipPort };
    ua = await TestUA.udp();
    assert.equal(await statusFor('app'), 200);
    assert.equal(await statusFor('bee'), 480);
    assert.equal(await statusFor('cee'), 486);
  });

  after(async () => {
    await ua?.close();
    await routr?.stop('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  test('security - a respond decision with a structured header as text is a 500 for that request; the process stays up', async () => {
    const source = `export function doProcess() { return { action: 'respond', status: 486, headers: { To: 'busy' } }; }\n`;
    const installed = await install({ manifest: manifest('app', '1.0.1', { matchFunc: "req => req.message.uri.startsWith('sip:app@')" }), source });
    assert.equal(installed.status, 201, JSON.stringify(installed.body));
    assert.equal(await statusFor('app', 'INVITE'), 500, 'the invalid decision is this request\'s 500');
    assert.equal(routr.child.exitCode, null, `the process is alive\n${routr.output().slice(-2000)}`);
    assert.equal(await statusFor('cee'), 486, 'and answers the next request');
  });

  test('security - a fixture with "__proto__" is refused and the host is exactly as it was', async () => {
    const refused = await install({
      manifest: manifest('app', '1.0.2', { matchFunc: "req => req.message.uri.startsWith('sip:app@')" }),
      source: ANSWER_SOURCE,
      fixtures: [{ name: 'pollutes', request: JSON.parse('{"__proto__": {"tag": "x", "rport": "1", "polluted": "yes"}}'), expect: { status: 299 } }],
    });
    assert.equal(refused.status, 422, JSON.stringify(refused.body));
    assert.equal(await statusFor('cee'), 486, 'requests are still answered');
    assert.equal(await statusFor('bee'), 480);
    assert.equal(routr.child.exitCode, null);
  });

  test('security - a manifest matchFunc that is not exactly one function expression is refused; routing is unchanged', async () => {
    const refused = await install({ manifest: manifest('app', '1.0.3', { matchFunc: 'req => false), (req => true' }), source: ANSWER_SOURCE });
    assert.equal(refused.status, 422, JSON.stringify(refused.body));
    assert.match(String(refused.body.error), /matchFunc/);
    assert.equal(await statusFor('cee'), 486, 'a request for the fallback still reaches the fallback');
    assert.equal(await statusFor('bee'), 480);
  });

  test('security - a configSchema pattern that backtracks catastrophically cannot freeze the host', async () => {
    // `^(a+)+$` against 40 a's and a '!' is 2^40 steps for a backtracking engine: the host thread would never
    // answer again. Matched in linear time, the config simply fails its schema.
    const evil = { type: 'object', properties: { x: { type: 'string', pattern: '^(a+)+$' } } };
    const started = Date.now();
    const refused = await install({ manifest: manifest('app', '1.0.5', { matchFunc: "req => req.message.uri.startsWith('sip:app@')", configSchema: evil, config: { x: `${'a'.repeat(40)}!` } }), source: ANSWER_SOURCE }, 10_000);
    assert.equal(refused.status, 422, JSON.stringify(refused.body));
    assert.match(String(refused.body.error), /configSchema/);
    assert.ok(Date.now() - started < 5000, `answered in ${Date.now() - started} ms`);
    assert.equal(await statusFor('cee'), 486, 'requests are still answered');
    const backref = await install({ manifest: manifest('app', '1.0.6', { configSchema: { type: 'object', properties: { x: { type: 'string', pattern: '^(a)\\1$' } } } }), source: ANSWER_SOURCE });
    assert.equal(backref.status, 422, JSON.stringify(backref.body));
    assert.match(String(backref.body.error), /RE2 syntax/);
  });

  test("security - a plugin's matchFunc runs apart from the operator's: replacing their globals changes nothing", async () => {
    const matchFunc = 'req => { Array.prototype.includes = () => true; globalThis.String = null; return false; }';
    const installed = await install({ manifest: manifest('app', '1.0.4', { matchFunc }), source: ANSWER_SOURCE });
    assert.equal(installed.status, 201, JSON.stringify(installed.body));
    assert.equal(await statusFor('cee'), 486, "the operator's matchFunc still sees the real Array.prototype.includes");
    assert.equal(await statusFor('bee'), 480);
  });
});

describe('security - an edge whose host answers with a decision the codec refuses', () => {
  let nats: NatsServerHandle;
  let routr: RunningRoutr;
  let bus: Bus;
  let serving: Subscription;
  let ua: TestUA;

  before(async () => {
    nats = await startNatsServer({ jetstream: true });
    routr = await startRoutr({ bus: { url: nats.url } }, { role: 'edge' });
    bus = await createBus({ url: nats.url, name: 'hostile-host', logger: silentLogger() });
    const decisions = [
      { action: 'respond', status: 486, headers: { To: 'busy' } },
      { action: 'respond', status: 302, headers: { Contact: 'not a uri at all' } },
      { action: 'forward', targets: [{ uri: 'sip:x@127.0.0.1:9', headers: { add: { To: '<sip:a@b>' } } }] },
      { action: 'forward', headers: { set: { Via: 'garbage' } } },
    ];
    let i = 0;
    serving = bus.serve(PROCESS_SUBJECT, async () => new TextEncoder().encode(JSON.stringify({ decision: decisions[i++ % decisions.length] })), { queue: HOSTS_QUEUE });
    await bus.flush();
    ua = await TestUA.udp();
  });

  after(async () => {
    await ua?.close();
    await serving?.drain();
    await bus?.close();
    await routr?.stop();
    await nats?.stop();
  });

  test('security - each such decision is a 500 for its request and the edge keeps answering', async () => {
    for (let k = 0; k < 8; k++) {
      const callId = `hostile-host-${k}-${process.pid}@test`;
      ua.send(requestText({ method: 'INVITE', uri: 'sip:anyone@127.0.0.1', ua, callId }), { host: '127.0.0.1', port: routr.sipPort });
      const answer = await ua.waitFor((m) => !('method' in m) && m.status >= 200 && m.headers['call-id'] === callId, 3000);
      assert.equal((answer.message as SipResponse).status, 500, `decision ${k % 4} contained`);
    }
  });
});
