/**
 * Through a real host: a plugin's optional `init(ctx)` builds its state once per sandbox (not per request) and
 * refuses a config by throwing — at start and on a hot swap, where the running version keeps serving; decision
 * `metadata` is checked by the schema and logged by the host at debug level, with the Call-ID.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { checkDecision } from '../../core/host/processor.js';
import { createLogger } from '../../core/log.js';
import { ask, reasonOf, statusOf } from '../helpers/envelopes.js';
import { fixtureBundle, startTestHost, variant, type TestHost } from '../helpers/plugins.js';

const INIT_SOURCE = `
let table = null;
let builds = 0;
export function init({ config }) {
  if (config.table === 'bad') throw new Error('table "bad" refused');
  builds++;
  table = config.table;
}
export function doProcess() {
  return { action: 'respond', status: 200, reason: table + ' built ' + builds, metadata: { 'why.table': String(table) } };
}
`;

function initBundle(version: string, table: string) {
  const bundle = structuredClone(variant(fixtureBundle('versioned'), version));
  bundle.source = INIT_SOURCE;
  bundle.fixtures = [];
  bundle.manifest.spec.config = { table };
  return bundle;
}

describe('plugins init', () => {
  let t: TestHost;
  const lines: Array<Record<string, unknown>> = [];

  before(async () => {
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    t = await startTestHost({
      processors: [{ ref: 'app', plugin: 'versioned', isFallback: true }],
      installed: [initBundle('2.0.0', 'first')],
      logger: createLogger({ level: 'debug', destination }),
    });
  });
  after(() => t?.dispose());

  test('plugins init - init runs once per sandbox, before the first request, with the config', async () => {
    assert.equal(reasonOf(await ask(t.host, 'x')), 'first built 1');
    assert.equal(reasonOf(await ask(t.host, 'x')), 'first built 1', 'not rebuilt per request');
  });

  test('plugins init - the host logs decision metadata at debug, with the Call-ID', async () => {
    lines.length = 0;
    await ask(t.host, 'x');
    const line = lines.find((l) => l.msg === 'decision');
    assert.ok(line, `a decision line among ${JSON.stringify(lines)}`);
    assert.equal(line.processor, 'app');
    assert.equal(line.callId, 'plugins-test@127.0.0.1');
    assert.deepEqual(line.metadata, { 'why.table': 'first' });
  });

  test('plugins init - an init that throws refuses the version; the running one keeps serving', async () => {
    await t.store.install(initBundle('3.0.0', 'bad'));
    const [outcome] = await t.host.sync('versioned');
    assert.equal(outcome?.outcome, 'refused');
    assert.match(outcome?.reason ?? '', /table "bad" refused/);
    assert.equal(reasonOf(await ask(t.host, 'x')), 'first built 1');
    await t.store.install(initBundle('4.0.0', 'second'));
    assert.equal((await t.host.sync('versioned'))[0]?.outcome, 'swapped');
    assert.equal(reasonOf(await ask(t.host, 'x')), 'second built 1');
    assert.equal(statusOf(await ask(t.host, 'x')), 200);
  });
});

test('plugins init - decision metadata: string values under short keys, or the decision is invalid', () => {
  assert.equal(typeof checkDecision({ action: 'forward', metadata: { 'r3.maps': 'a > b' } }), 'object');
  assert.equal(typeof checkDecision({ action: 'respond', status: 404, metadata: { why: 'none' } }), 'object');
  assert.equal(typeof checkDecision({ action: 'forward', metadata: { 'bad key': 'x' } }), 'string');
  assert.equal(typeof checkDecision({ action: 'forward', metadata: { n: 1 } }), 'string');
  assert.equal(typeof checkDecision({ action: 'forward', metadata: { long: 'x'.repeat(1025) } }), 'string');
});
