/**
 * Middlewares through a real host: pre middlewares in order (answer and stop, add metadata later stages see),
 * post middlewares replacing the decision, methods and matchFunc scoping, and containment — a failing
 * middleware is a 500 for that request; an open one answers 503 (it is a gate, so it is not skipped); a
 * disabled one is skipped.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { HostReply } from '../../core/envelope.js';
import { decide, envelope, statusOf } from '../helpers/envelopes.js';
import { fixtureBundle, startTestHost, variant, type TestHost } from '../helpers/plugins.js';

function headersOf(reply: HostReply): Record<string, unknown> {
  return 'decision' in reply && reply.decision.action === 'respond' ? (reply.decision.headers ?? {}) : {};
}

const send = (t: TestHost, headers: string[], method = 'OPTIONS') => decide(t.host, envelope(method, 'sip:app@127.0.0.1', { headers: headers }));

describe('plugins middleware - chains', () => {
  let t: TestHost;
  const echoCalls = () => t.host.status().find((s) => s.ref === 'echo')?.calls ?? 0;

  before(async () => {
    t = await startTestHost({
      processors: [{ ref: 'echo', plugin: 'mw-echo', isFallback: true }],
      middlewares: [
        { ref: 'tagger', plugin: 'mw-kit', stage: 'pre', methods: ['OPTIONS'], config: { name: 'tag' } },
        { ref: 'gatekeeper', plugin: 'mw-kit', stage: 'pre', config: { name: 'gate' } },
        { ref: 'scoped', plugin: 'mw-kit', stage: 'pre', matchFunc: "req => req.message.headers['x-scope'] === 'yes'", config: { name: 'scoped' } },
        { ref: 'stamper', plugin: 'mw-kit', stage: 'post', config: { name: 'stamp' } },
        { ref: 'mangler', plugin: 'mw-kit', stage: 'post', config: { name: 'mangle' } },
      ],
      circuitBreaker: { failures: 100 },
    });
  });
  after(() => t?.dispose());

  test('plugins middleware - with nothing to do the request reaches the processor unchanged', async () => {
    const reply = await send(t, []);
    assert.equal(statusOf(reply), 200);
    assert.equal(headersOf(reply)['X-Metadata'], '{}');
  });

  test('plugins middleware - a pre middleware may answer: the processor and the post middlewares never run', async () => {
    const before = echoCalls();
    const reply = await send(t, ['X-Gate: block', 'X-Stamp: stamp']);
    assert.equal(statusOf(reply), 403);
    assert.ok('decision' in reply && reply.processor === 'gatekeeper');
    assert.equal(headersOf(reply)['X-Stamped'], undefined);
    assert.equal(echoCalls(), before);
  });

  test('plugins middleware - metadata from a pre middleware reaches later middlewares and the processor', async () => {
    assert.equal(statusOf(await send(t, ['X-Gate: need-tenant'])), 401, 'no tenant without the tagger');
    const reply = await send(t, ['X-Tag: tag', 'X-Gate: need-tenant']);
    assert.equal(statusOf(reply), 200);
    assert.deepEqual(JSON.parse(String(headersOf(reply)['X-Metadata'])), { tenant: 'acme', by: 'tag' });
  });

  test('plugins middleware - a post middleware may replace the decision and sees the metadata', async () => {
    const reply = await send(t, ['X-Tag: tag', 'X-Stamp: stamp']);
    assert.equal(headersOf(reply)['X-Stamped'], 'stamp');
    assert.equal(headersOf(reply)['X-Tenant'], 'acme');
  });

  test('plugins middleware - methods and matchFunc decide which requests a middleware sees', async () => {
    const message = await send(t, ['X-Tag: tag'], 'MESSAGE');
    assert.equal(headersOf(message)['X-Metadata'], '{}', 'the tagger takes OPTIONS only');
    assert.equal(statusOf(await send(t, ['X-Scoped: block'])), 200, 'the scoped one is not asked without X-Scope');
    assert.equal(statusOf(await send(t, ['X-Scoped: block', 'X-Scope: yes'])), 403);
  });

  for (const [header, what] of [
    ['X-Gate: throw', 'a pre middleware that throws'],
    ['X-Gate: loop', 'a pre middleware that loops'],
    ['X-Gate: garbage', 'a pre middleware returning garbage'],
    ['X-Gate: forward', 'a pre middleware returning a forward decision'],
    ['X-Gate: bad-metadata', 'a pre middleware returning non-string metadata'],
    ['X-Mangle: post-garbage', 'a post middleware returning an invalid decision'],
    ['X-Mangle: post-throw', 'a post middleware that throws a string'],
  ]) {
    test(`plugins middleware - ${what} is a 500 for that request and the next request is served`, async () => {
      assert.equal(statusOf(await send(t, [header])), 500);
      assert.equal(statusOf(await send(t, [])), 200);
    });
  }
});

describe('plugins middleware - breaker and enabled flag', () => {
  let t: TestHost;

  before(async () => {
    t = await startTestHost({
      processors: [{ ref: 'echo', plugin: 'mw-echo', isFallback: true }],
      middlewares: [{ ref: 'gatekeeper', plugin: 'mw-kit', stage: 'pre', config: { name: 'gate' } }],
      circuitBreaker: { failures: 2, coolDownMs: 60_000 },
    });
  });
  after(() => t?.dispose());

  test('plugins middleware - an open middleware answers 503 instead of being skipped (it may be a gate)', async () => {
    await send(t, ['X-Gate: throw']);
    await send(t, ['X-Gate: throw']);
    assert.equal(t.host.status().find((s) => s.ref === 'gatekeeper')?.state, 'open');
    assert.equal(statusOf(await send(t, [])), 503);
  });

  test('plugins middleware - enable closes it; disable takes it out of the chain', async () => {
    await t.store.setEnabled('mw-kit', true);
    await t.host.sync('mw-kit');
    assert.equal(statusOf(await send(t, ['X-Gate: block'])), 403);
    await t.store.setEnabled('mw-kit', false);
    await t.host.sync('mw-kit');
    assert.equal(statusOf(await send(t, ['X-Gate: block'])), 200, 'skipped while disabled');
  });
});

describe('plugins middleware - configuration', () => {
  test('plugins middleware - a Middleware plugin configured as a processor is refused at start', async () => {
    await assert.rejects(startTestHost({ processors: [{ ref: 'oops', plugin: 'mw-kit' }] }), /processor "oops": plugin "mw-kit" is a Middleware, not a Processor/);
  });

  test('plugins middleware - a middleware config failing the configSchema is refused at start with its JSON path', async () => {
    await assert.rejects(
      startTestHost({ processors: [{ ref: 'echo', plugin: 'mw-echo' }], middlewares: [{ ref: 'm', plugin: 'mw-kit', stage: 'pre', config: { name: 'NO' } }] }),
      /\/spec\/host\/middlewares\/0\/config \(middleware "m"\)[\s\S]*\/name: must match pattern/,
    );
  });

  test('plugins middleware - a Processor plugin configured as a middleware is refused at start', async () => {
    await assert.rejects(
      startTestHost({ processors: [{ ref: 'echo', plugin: 'mw-echo' }], middlewares: [{ ref: 'p', plugin: 'mw-echo', stage: 'post' }] }),
      /middleware "p": plugin "mw-echo" is a Middleware|is a Processor, not a Middleware/,
    );
  });

  test('plugins middleware - a version without the hook its stage needs is refused (here: at start, falling back)', async () => {
    const preOnly = structuredClone(variant(fixtureBundle('mw-kit'), '1.0.1', { source: (s) => s.replace('export function onDecision', 'function onDecision') }));
    preOnly.fixtures = [];
    const t = await startTestHost({
      processors: [{ ref: 'echo', plugin: 'mw-echo', isFallback: true }],
      middlewares: [{ ref: 'p', plugin: 'mw-kit', stage: 'post' }],
      installed: [preOnly],
    });
    try {
      const entry = t.host.status().find((s) => s.ref === 'p');
      assert.equal(entry?.version, '1.0.0');
      assert.match(String(entry?.refusal), /exports no onDecision function, which a post middleware needs/);
    } finally {
      t.dispose();
    }
  });
});
