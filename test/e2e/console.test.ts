/**
 * The web console in headless Chromium, on the embedded bus and over NATS with two edges (edge-a with the host,
 * edge-b alone): the browser logs in through the address `routr console` prints, the pages render, a
 * registration made by sipp appears on the open registrations page within a second (pushed by the event
 * stream), a sipp call shows up among the recent calls and its ladder is drawn as SVG with its messages and the
 * host's decision (over NATS: across both edges), the Trunk is listed, and a plugin disabled through the API
 * turns `disabled` on the open plugins page. With ROUTR_SCREENSHOTS=<dir>, every page is saved there.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseServerConfig } from '../../core/config/server.js';
import { silentLogger } from '../../core/log.js';
import { RoutrServer } from '../../core/server.js';
import { openBrowser, screenshot, type Browser } from '../helpers/browser.js';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { freeSipPort, testConfig, type SpecOverrides } from '../helpers/routr.js';
import { onlyOn } from '../helpers/runtime.js';
import { runSipp } from '../helpers/sipp.js';

const fast = { t1: 100, t2: 800, t4: 500, timerC: 180000 };
const CONNECT = { ref: 'connect', isFallback: true, config: { algorithms: ['MD5', 'SHA-256'] } };

function resources(trunkPort: number): string {
  return `
- { apiVersion: v2beta1, kind: Domain, ref: domain-01, spec: { context: { domainUri: sip.local } } }
- { apiVersion: v2beta1, kind: Agent, ref: agent-1001, metadata: { name: John }, spec: { username: "1001", domainRef: domain-01, credentialsRef: cred-1001 } }
- { apiVersion: v2beta1, kind: Agent, ref: agent-1002, metadata: { name: Jane }, spec: { username: "1002", domainRef: domain-01, credentialsRef: cred-1002 } }
- { apiVersion: v2beta1, kind: Credentials, ref: cred-1001, spec: { credentials: { username: "1001", password: "john-1234" } } }
- { apiVersion: v2beta1, kind: Credentials, ref: cred-1002, spec: { credentials: { username: "1002", password: "jane-5678" } } }
- apiVersion: v2beta1
  kind: Trunk
  ref: trunk-01
  metadata: { name: Local carrier }
  spec: { outbound: { uris: [{ uri: { host: 127.0.0.1, port: ${trunkPort}, transport: udp } }] } }
`;
}

interface Bed {
  /** The edge the registration goes through (over NATS: edge-b, not the one with the host). */
  registerPort: number;
  /** The edge the caller sends to. */
  callPort: number;
  consoleUrl: string;
  httpPort: number;
  token: string;
  edges: string[];
  stop(): Promise<void>;
}

async function server(spec: SpecOverrides, role: 'all' | 'edge'): Promise<{ server: RoutrServer; sipPort: number; httpPort: number }> {
  const config = await testConfig(spec);
  const s = new RoutrServer({ config: parseServerConfig(config.document), role, logger: silentLogger() });
  await s.start();
  return { server: s, sipPort: config.sipPort, httpPort: config.httpPort };
}

async function embeddedBed(dir: string): Promise<Bed> {
  const a = await server({ edge: { ref: 'edge-a', timers: fast }, host: { ref: 'host-1', processors: [CONNECT] }, resources: { provider: 'files', path: join(dir, 'resources') }, stateDir: join(dir, 'state-a') }, 'all');
  const token = a.server.apiAccess?.token as string;
  return {
    registerPort: a.sipPort, callPort: a.sipPort, httpPort: a.httpPort, token, edges: ['edge-a'],
    consoleUrl: `http://127.0.0.1:${a.httpPort}/console/?token=${encodeURIComponent(token)}`,
    stop: () => a.server.stop(),
  };
}

async function natsBed(dir: string, nats: NatsServerHandle): Promise<Bed> {
  const common = { bus: { url: nats.url }, resources: { provider: 'files' as const, path: join(dir, 'resources') } };
  const a = await server({ ...common, edge: { ref: 'edge-a', timers: fast }, host: { ref: 'host-1', processors: [CONNECT] }, stateDir: join(dir, 'state-a') }, 'all');
  const b = await server({ ...common, edge: { ref: 'edge-b', timers: fast }, http: { enabled: false }, stateDir: join(dir, 'state-b') }, 'edge');
  const token = a.server.apiAccess?.token as string;
  return {
    registerPort: b.sipPort, callPort: a.sipPort, httpPort: a.httpPort, token, edges: ['edge-a', 'edge-b'],
    consoleUrl: `http://127.0.0.1:${a.httpPort}/console/?token=${encodeURIComponent(token)}`,
    stop: async () => {
      await b.server.stop();
      await a.server.stop();
    },
  };
}

/** The console, page by page, against `bed`; `calleePort` is where 1002 registers and answers. */
async function exercise(bed: Bed, browser: Browser, name: string, calleePort: number): Promise<void> {
  const { page } = browser;
  const shot = (page_: string) => screenshot(page, `${name}-${page_}`);
  browser.errors.length = 0;
  await page.goto(bed.consoleUrl);
  assert.equal(new URL(page.url()).pathname, '/console/', 'the token left the address bar');
  assert.equal(new URL(page.url()).search, '');
  await page.getByRole('heading', { name: 'Live figures' }).waitFor();
  await page.locator('#live.on').waitFor({ timeout: 5000 });
  await page.locator('.figure dd', { hasText: /^\d/ }).first().waitFor({ timeout: 5000 });

  // A registration by sipp appears on the open page within a second.
  await page.getByRole('link', { name: 'Registrations' }).click();
  await page.getByText('Nobody is registered.').waitFor();
  const registered = await runSipp({
    scenario: 'connect-register-auth-expect-200.xml', remote: `127.0.0.1:${bed.registerPort}`, localPort: calleePort, calls: 1, service: '1002', timeoutSeconds: 10,
    args: ['-au', '1002', '-ap', 'jane-5678'],
  }).result;
  assert.equal(registered.successful, 1, `${registered.errors}\n${registered.stdout}`);
  const since = Date.now();
  await page.getByRole('cell', { name: 'sip:1002@sip.local' }).waitFor({ timeout: 1000 });
  const shownAfter = Date.now() - since;
  assert.ok(shownAfter <= 1000, `shown after ${shownAfter} ms`);
  await page.getByRole('cell', { name: bed.edges[bed.edges.length - 1], exact: true }).waitFor();
  await shot('registrations');

  // A call: among the recent calls, and its ladder.
  await page.getByRole('link', { name: 'Calls' }).click();
  await page.getByText('No call has ended yet.').waitFor();
  const uas = runSipp({ scenario: 'connect-uas-answer-200.xml', localPort: calleePort, calls: 1, timeoutSeconds: 20 });
  await new Promise((r) => setTimeout(r, 300));
  const call = await runSipp({
    scenario: 'connect-auth-call-expect-200.xml', remote: `127.0.0.1:${bed.callPort}`, calls: 1, service: '1002', timeoutSeconds: 20,
    args: ['-key', 'caller', '1001', '-key', 'from_host', 'sip.local', '-key', 'to_host', 'sip.local', '-key', 'extra_header', 'X-Console: 1', '-au', '1001', '-ap', 'john-1234'],
  }).result;
  assert.equal(call.successful, 1, `${call.errors}\n${call.stdout}`);
  await uas.result;
  const row = page.getByRole('row').filter({ hasText: 'agent-to-agent' }).filter({ hasText: 'bye 200' });
  await row.waitFor({ timeout: 3000 });
  await shot('calls');
  await row.getByRole('link').click();
  const ladder = page.locator('svg.ladder');
  await ladder.waitFor();
  const labels = await ladder.locator('g.row text').allTextContents();
  assert.ok(labels.includes('INVITE'), labels.join(' | '));
  assert.ok(labels.includes('200 OK (BYE)'), labels.join(' | '));
  assert.ok(labels.some((l) => l.startsWith('407')), 'the challenge is on the ladder');
  const heads = await ladder.locator('text.head').allTextContents();
  assert.deepEqual(heads, ['caller', ...bed.edges, 'callee'], 'one column per participant');
  assert.match((await ladder.locator('text.note').allTextContents()).join('\n'), /INVITE: connect → forward agent-to-agent/);
  const rows = await ladder.locator('g.row').count();
  assert.ok(rows >= (bed.edges.length === 2 ? 24 : 16), `${rows} messages drawn`);
  await ladder.locator('g.row').first().click();
  assert.match((await page.locator('#message').textContent()) ?? '', /^UDP at edge-a\n\nINVITE sip:1002@sip\.local SIP\/2\.0/);
  await shot('call');

  await page.getByRole('link', { name: 'Trunks' }).click();
  await page.getByRole('cell', { name: 'trunk-01' }).waitFor();
  assert.ok(await page.getByRole('cell', { name: 'Local carrier' }).isVisible());
  await shot('trunks');

  // A plugin disabled through the API turns `disabled` on the open page.
  await page.getByRole('link', { name: 'Plugins' }).click();
  await page.getByRole('cell', { name: 'closed' }).first().waitFor();
  const post = (verb: string) => fetch(`http://127.0.0.1:${bed.httpPort}/api/v1/plugins/connect/${verb}`, { method: 'POST', headers: { authorization: `Bearer ${bed.token}` } });
  assert.equal((await post('disable')).status, 200);
  await page.getByRole('cell', { name: 'disabled' }).first().waitFor({ timeout: 3000 });
  await shot('plugins');
  assert.equal((await post('enable')).status, 200);
  await page.getByRole('link', { name: 'Overview' }).click();
  await page.getByRole('heading', { name: 'Latest events' }).waitFor();
  await page.locator('#event-log li', { hasText: 'call' }).first().waitFor();
  await shot('overview');
  assert.deepEqual(browser.errors, [], 'the page logged no errors');
  // Leave before the server stops, so its closing the event stream is not an error of the next test.
  await page.goto('about:blank');
}

// playwright-core drives Chromium from Node; the console itself is served the same on every runtime.
describe('console', onlyOn(['node'], 'playwright-core is run from Node only'), () => {
  let dir: string;
  let browser: Browser;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'routr-console-'));
    mkdirSync(join(dir, 'resources'));
    writeFileSync(join(dir, 'resources', 'resources.yaml'), resources(await freeSipPort()));
    if (process.env.ROUTR_SCREENSHOTS) mkdirSync(process.env.ROUTR_SCREENSHOTS, { recursive: true });
    browser = await openBrowser();
  });

  after(async () => {
    await browser?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('console - on the embedded bus: pages, a sipp registration within a second, a call and its ladder, trunks, plugins', async () => {
    const bed = await embeddedBed(dir);
    try {
      await exercise(bed, browser, 'embedded', await freeSipPort());
    } finally {
      await bed.stop();
    }
  });

  test('console - over NATS with two edges: a registration through edge-b, a call across both edges drawn on one ladder', async () => {
    const nats = await startNatsServer({ jetstream: true });
    let bed: Bed | undefined;
    try {
      bed = await natsBed(dir, nats);
      await exercise(bed, browser, 'nats', await freeSipPort());
    } finally {
      await bed?.stop();
      await nats.stop();
    }
  });
});
