/**
 * The sandbox contract: what every SandboxEngine must do for well-behaved code, run unchanged against each engine
 * (`sandbox.ivm.test.ts` today). Calls, modules, compile errors, capabilities, limits on results, concurrency,
 * disposal. Hostile code has its own suite, `sandbox-hostile.case.ts`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Capability, SandboxEngine, SourceLocation } from '../../sandbox/types.js';
import { LIMITS, sleep, withSandbox } from './sandbox-support.js';

export function sandboxContract(engine: SandboxEngine): void {
  describe(`sandbox contract (${engine.name})`, () => {
    callCases(engine);
    moduleCases(engine);
    capabilityCases(engine);
    limitCases(engine);
    concurrencyCases(engine);
  });
}

function callCases(engine: SandboxEngine): void {
  const source = `
    export function echo(x) { return { got: x, n: x.n * 2 }; }
    export async function later(x) { await null; return [x.n, 'done']; }
    export function nothing() {}
    export function boom() { const e = new TypeError('bad input'); throw e; }
    export async function rejects() { await null; throw new RangeError('late'); }
    export const notAFunction = 3;
    export default function () { return 'default'; }
  `;

  it('call - round-trips JSON text through call and callSync', () =>
    withSandbox(engine, { source }, async (sandbox) => {
      const arg = JSON.stringify({ n: 21, s: 'é ✓', list: [1, null, true] });
      const expected = JSON.stringify({ got: JSON.parse(arg), n: 42 });
      assert.equal(await sandbox.call('echo', arg), expected);
      assert.equal(sandbox.callSync('echo', arg), expected);
      assert.equal(await sandbox.call('default', 'null'), '"default"');
    }));

  it('call - an async export is awaited', () =>
    withSandbox(engine, { source }, async (sandbox) => {
      assert.equal(await sandbox.call('later', '{"n":7}'), '[7,"done"]');
    }));

  it('call - undefined becomes "null"', () =>
    withSandbox(engine, { source }, async (sandbox) => {
      assert.equal(await sandbox.call('nothing', 'null'), 'null');
      assert.equal(sandbox.callSync('nothing', 'null'), 'null');
    }));

  it('call - exports lists the entry module names', () =>
    withSandbox(engine, { source }, async (sandbox) => {
      assert.deepEqual([...sandbox.exports].sort(), ['boom', 'default', 'echo', 'later', 'notAFunction', 'nothing', 'rejects']);
    }));

  it('call - a throw or rejection is a SandboxScriptError with the sandbox stack', () =>
    withSandbox(engine, { source, filename: 'plugin.js' }, async (sandbox) => {
      const error = await sandbox.call('boom', 'null').then(() => undefined, (e: unknown) => e);
      assert.ok(error instanceof Error && error.name === 'SandboxScriptError');
      assert.match(error.message, /TypeError: bad input/);
      assert.match((error as Error & { sandboxStack?: string }).sandboxStack ?? '', /plugin\.js:5:\d+/);
      await assert.rejects(sandbox.call('rejects', 'null'), { name: 'SandboxScriptError', message: /RangeError: late/ });
      assert.throws(() => sandbox.callSync('boom', 'null'), { name: 'SandboxScriptError' });
    }));

  it('call - a missing or non-function export is a SandboxScriptError naming it', () =>
    withSandbox(engine, { source }, async (sandbox) => {
      await assert.rejects(sandbox.call('missing', 'null'), { name: 'SandboxScriptError', message: /"missing"/ });
      assert.throws(() => sandbox.callSync('notAFunction', 'null'), { name: 'SandboxScriptError', message: /"notAFunction"/ });
    }));

  it('call - invalid argument JSON is a SandboxScriptError', () =>
    withSandbox(engine, { source }, async (sandbox) => {
      await assert.rejects(sandbox.call('echo', '{not json'), { name: 'SandboxScriptError', message: /SyntaxError/ });
    }));

  it('callSync - an export returning a Promise is a SandboxResultError', () =>
    withSandbox(engine, { source }, async (sandbox) => {
      assert.throws(() => sandbox.callSync('later', '{"n":1}'), { name: 'SandboxResultError', message: /Promise/ });
      assert.equal(sandbox.callSync('echo', '{"n":1}'), '{"got":{"n":1},"n":2}');
    }));

  it('stats - counts calls and failures', () =>
    withSandbox(engine, { source }, async (sandbox) => {
      await sandbox.call('echo', '{"n":1}');
      sandbox.callSync('echo', '{"n":1}');
      await sandbox.call('boom', 'null').catch(() => undefined);
      assert.deepEqual(sandbox.stats, { calls: 3, failures: 1, recreations: 0 });
    }));

  it('dispose - later calls fail with SandboxDisposedError; dispose is idempotent', async () => {
    const sandbox = await engine.create({ name: 'disposable', source, limits: LIMITS });
    sandbox.dispose();
    sandbox.dispose();
    await assert.rejects(sandbox.call('echo', '{"n":1}'), { name: 'SandboxDisposedError' });
    assert.throws(() => sandbox.callSync('echo', '{"n":1}'), { name: 'SandboxDisposedError' });
  });
}

function moduleCases(engine: SandboxEngine): void {
  it('modules - the entry imports the given modules by specifier, and they import each other', () =>
    withSandbox(
      engine,
      {
        source: `import { twice } from 'math';\nimport label from 'labels/default';\nexport const f = (x) => label + twice(x.n);`,
        modules: { math: `import { one } from 'one';\nexport const twice = (n) => n * 2 + one - 1;`, one: 'export const one = 1;', 'labels/default': `export default 'n=';` },
      },
      async (sandbox) => {
        assert.equal(await sandbox.call('f', '{"n":4}'), '"n=8"');
      },
    ));

  it('modules - an unknown import fails at create, naming the specifier', async () => {
    await assert.rejects(
      engine.create({ name: 'bad-import', source: `import { x } from 'math';\nimport fs from 'node:fs';\nexport const f = () => x;`, modules: { math: 'export const x = 1;' }, limits: LIMITS }),
      (e: Error & { location?: { line: number } }) => {
        assert.equal(e.name, 'SandboxCompileError');
        assert.match(e.message, /"node:fs"/);
        assert.equal(e.location?.line, 2);
        return true;
      },
    );
    await assert.rejects(
      engine.create({ name: 'bad-nested', source: `import { x } from 'math';\nexport const f = () => x;`, modules: { math: `import 'fs';\nexport const x = 1;` }, limits: LIMITS }),
      { name: 'SandboxCompileError', message: /"fs".*math/ },
    );
  });

  it('modules - a syntax error is a SandboxCompileError with file, line and column', async () => {
    // Engines agree on file and line; the column is where each parser noticed (V8: the token, 9; QuickJS: 1).
    await assert.rejects(engine.create({ name: 'syntax', filename: 'broken.js', source: 'export const a = 1;\n\nlet b = ;\n', limits: LIMITS }), (e: Error & { location?: SourceLocation }) => {
      assert.equal(e.name, 'SandboxCompileError');
      assert.equal(e.location?.file, 'broken.js');
      assert.equal(e.location?.line, 3);
      assert.ok(Number.isInteger(e.location?.column) && (e.location?.column ?? 0) >= 1 && (e.location?.column ?? 0) <= 10);
      assert.match(e.message, /broken\.js:3:\d+/);
      return true;
    });
    await assert.rejects(
      engine.create({ name: 'syntax-module', source: `import { x } from 'lib';\nexport const a = x;`, modules: { lib: 'export const x = {;' }, limits: LIMITS }),
      (e: Error & { location?: { file: string; line: number } }) => e.name === 'SandboxCompileError' && e.location?.file === 'lib' && e.location.line === 1,
    );
  });

  it('modules - a throw in top-level code is a SandboxCompileError pointing at it', async () => {
    await assert.rejects(
      engine.create({ name: 'top-throw', filename: 'top.js', source: 'export const a = 1;\nnull.boom;\n', limits: LIMITS }),
      (e: Error & { location?: { file: string; line: number } }) => e.name === 'SandboxCompileError' && /TypeError/.test(e.message) && e.location?.file === 'top.js' && e.location.line === 2,
    );
    await assert.rejects(engine.create({ name: 'top-lies', source: `throw new Error('request timed out');`, limits: LIMITS }), {
      name: 'SandboxCompileError',
      message: /request timed out/,
    });
  });

  it('modules - a loop or a never-settling await in top-level code fails create in time', async () => {
    const started = Date.now();
    await assert.rejects(engine.create({ name: 'top-loop', source: 'while (true) {}', limits: LIMITS }), { name: 'SandboxCompileError' });
    await assert.rejects(engine.create({ name: 'top-await', source: 'await new Promise(() => {});\nexport const a = 1;', limits: LIMITS }), {
      name: 'SandboxCompileError',
      message: /top-level await/,
    });
    assert.ok(Date.now() - started < 2000);
  });

  it('modules - top-level await on an async capability finishes before create resolves', () =>
    withSandbox(
      engine,
      {
        source: `const settings = await routr.settings.get('x');\nexport const f = () => settings;`,
        capabilities: { 'settings.get': { async: true, fn: async (key) => (await sleep(10), { key, ready: true }) } },
      },
      async (sandbox) => {
        assert.equal(await sandbox.call('f', 'null'), '{"key":"x","ready":true}');
      },
    ));
}

function capabilityCases(engine: SandboxEngine): void {
  it('capabilities - a sync capability gets copies and returns a copy', async () => {
    const kept = { list: [1, 2] };
    let received: unknown;
    const capabilities: Record<string, Capability> = {
      'store.put': { fn: (value) => { received = value; (value as { list: number[] }).list.push(99); } },
      'store.get': { fn: () => kept },
    };
    const source = `
      export function run() {
        const mine = { list: [1] };
        const put = routr.store.put(mine);
        const got = routr.store.get();
        got.list.push(3);
        return { mine, put: put === undefined, got, isPromise: got instanceof Promise };
      }`;
    await withSandbox(engine, { source, capabilities }, async (sandbox) => {
      assert.equal(await sandbox.call('run', 'null'), '{"mine":{"list":[1]},"put":true,"got":{"list":[1,2,3]},"isPromise":false}');
      assert.equal(sandbox.callSync('run', 'null'), '{"mine":{"list":[1]},"put":true,"got":{"list":[1,2,3]},"isPromise":false}');
      assert.deepEqual(kept, { list: [1, 2] });
      assert.deepEqual(received, { list: [1, 99] });
    });
  });

  it('capabilities - an async capability returns a Promise that settles with a copy', async () => {
    const kept = { n: 1 };
    const capabilities: Record<string, Capability> = {
      'kv.get': { async: true, fn: async (key) => (await sleep(5), { key, kept }) },
    };
    const source = `
      export async function run() {
        const pending = routr.kv.get('k');
        const isPromise = pending instanceof Promise;
        const value = await pending;
        value.kept.n = 2;
        return { isPromise, value };
      }`;
    await withSandbox(engine, { source, capabilities }, async (sandbox) => {
      assert.equal(await sandbox.call('run', 'null'), '{"isPromise":true,"value":{"key":"k","kept":{"n":2}}}');
      assert.deepEqual(kept, { n: 1 });
    });
  });

  it('capabilities - a host throw or rejection is an ordinary Error in the sandbox, message only', async () => {
    const capabilities: Record<string, Capability> = {
      'fail.sync': { fn: () => { throw new Error('sync says no'); } },
      'fail.async': { async: true, fn: async () => { throw new Error('async says no'); } },
      'fail.now': { async: true, fn: () => Promise.reject(new Error('rejected at once')) },
    };
    const source = `
      function describe(e) {
        return { isError: e instanceof Error, name: e.name, message: e.message, keys: Object.keys(e), hostFrames: /node:|file:|[/]work[/]/.test(String(e.stack)) };
      }
      export async function run() {
        const out = [];
        try { routr.fail.sync(); } catch (e) { out.push(describe(e)); }
        try { await routr.fail.async(); } catch (e) { out.push(describe(e)); }
        try { await routr.fail.now(); } catch (e) { out.push(describe(e)); }
        return out;
      }`;
    await withSandbox(engine, { source, capabilities }, async (sandbox) => {
      const out = JSON.parse(await sandbox.call('run', 'null')) as Array<{ isError: boolean; name: string; message: string; keys: string[]; hostFrames: boolean }>;
      assert.deepEqual(out.map((e) => e.message), ['sync says no', 'async says no', 'rejected at once']);
      for (const e of out) {
        assert.equal(e.isError, true);
        assert.equal(e.name, 'Error');
        assert.deepEqual(e.keys, []);
        assert.equal(e.hostFrames, false, 'the host stack leaked into the sandbox');
      }
    });
  });

  it('capabilities - routr is frozen, deeply, and cannot be replaced', async () => {
    const capabilities: Record<string, Capability> = { 'log.info': { fn: () => undefined }, 'kv.get': { async: true, fn: async () => 1 } };
    const source = `
      export function run() {
        const attempts = [
          () => { routr.log.info = () => 'mine'; },
          () => { routr.log = {}; },
          () => { routr.extra = 1; },
          () => { routr.log.info.extra = 1; },
          () => { globalThis.routr = {}; },
          () => { delete globalThis.routr; },
        ];
        const threw = attempts.map((attempt) => { try { attempt(); return false; } catch (e) { return e instanceof TypeError; } });
        return { threw, frozen: [Object.isFrozen(routr), Object.isFrozen(routr.log), Object.isFrozen(routr.kv), Object.isFrozen(routr.log.info)], keys: Object.keys(routr).sort() };
      }`;
    await withSandbox(engine, { source, capabilities }, async (sandbox) => {
      assert.equal(await sandbox.call('run', 'null'), '{"threw":[true,true,true,true,true,true],"frozen":[true,true,true,true],"keys":["kv","log"]}');
    });
  });

  it('capabilities - a cached capability crosses once per arguments and version, its results frozen', async () => {
    let version = 1;
    const crossings: string[] = [];
    const cache = { version: () => version };
    const capabilities: Record<string, Capability> = {
      'data.get': { cache, fn: (key) => (crossings.push(`get ${String(key)}`), { key, version, list: [1, 2] }) },
      'data.list': { cache, fn: () => (crossings.push('list'), [version]) },
      'data.live': { fn: () => (crossings.push('live'), version) },
    };
    const source = `
      export function read(keys) {
        const out = keys.map((k) => routr.data.get(k));
        const same = routr.data.get(keys[0]) === out[0];
        let mutated = true;
        try { out[0].list.push(3); } catch { mutated = false; }
        return { versions: out.map((o) => o.version), same, frozen: Object.isFrozen(out[0].list) && !mutated, list: routr.data.list(), live: routr.data.live(), names: Object.keys(routr.data) };
      }`;
    await withSandbox(engine, { source, capabilities }, async (sandbox) => {
      const first = JSON.parse(sandbox.callSync('read', '["a","b","a"]'));
      assert.deepEqual(first, { versions: [1, 1, 1], same: true, frozen: true, list: [1], live: 1, names: ['get', 'list', 'live'] });
      assert.deepEqual(crossings, ['get a', 'get b', 'list', 'live']);
      crossings.length = 0;
      JSON.parse(await sandbox.call('read', '["a","b"]'));
      assert.deepEqual(crossings, ['live'], 'the same version: nothing crosses but the uncached capability');
      version = 2;
      crossings.length = 0;
      const moved = JSON.parse(sandbox.callSync('read', '["a"]'));
      assert.deepEqual(moved.versions, [2]);
      assert.deepEqual(moved.list, [2]);
      assert.deepEqual(crossings, ['get a', 'list', 'live'], 'a new version drops what the sandbox kept');
    });
  });

  it('capabilities - a cached capability that throws keeps nothing; async ones cannot be cached', async () => {
    let fail = true;
    const capabilities: Record<string, Capability> = {
      'data.get': { cache: { version: () => 1 }, fn: () => { if (fail) throw new Error('not yet'); return 'ok'; } },
    };
    const source = `export function read() { try { return routr.data.get(); } catch (e) { return e.message; } }`;
    await withSandbox(engine, { source, capabilities }, async (sandbox) => {
      assert.equal(sandbox.callSync('read', 'null'), '"not yet"');
      fail = false;
      assert.equal(sandbox.callSync('read', 'null'), '"ok"');
    });
    await assert.rejects(
      engine.create({ name: 'async-cached', source: 'export const f = () => 1;', limits: LIMITS, capabilities: { 'data.get': { async: true, cache: { version: () => 1 }, fn: async () => 1 } } }),
      /cannot be both async and cached/,
    );
  });

  it('capabilities - without any, routr is an empty frozen object', () =>
    withSandbox(engine, { source: 'export const run = () => [typeof routr, Object.keys(routr).length, Object.isFrozen(routr)];' }, async (sandbox) => {
      assert.equal(sandbox.callSync('run', 'null'), '["object",0,true]');
    }));

  it('capabilities - callSync is refused on a sandbox with async capabilities', () =>
    withSandbox(engine, { source: 'export const run = () => 1;', capabilities: { 'kv.get': { async: true, fn: async () => 1 } } }, async (sandbox) => {
      assert.throws(() => sandbox.callSync('run', 'null'), { name: 'SandboxUsageError' });
      assert.equal(await sandbox.call('run', 'null'), '1');
    }));

  it('capabilities - paths that clash or are not identifiers are refused at create', async () => {
    const fn = (): undefined => undefined;
    await assert.rejects(engine.create({ name: 'clash', source: '', limits: LIMITS, capabilities: { log: { fn }, 'log.info': { fn } } }), TypeError);
    await assert.rejects(engine.create({ name: 'proto', source: '', limits: LIMITS, capabilities: { '__proto__.x': { fn } } }), TypeError);
  });
}

function limitCases(engine: SandboxEngine): void {
  it('results - larger than maxResultBytes is a SandboxResultError, counted in UTF-8 bytes', () =>
    withSandbox(engine, { source: 'export const make = (x) => "é".repeat(x.n);', maxResultBytes: 100 }, async (sandbox) => {
      assert.equal((await sandbox.call('make', '{"n":49}')).length, 51);
      await assert.rejects(sandbox.call('make', '{"n":60}'), { name: 'SandboxResultError', message: /100 bytes/ });
      assert.throws(() => sandbox.callSync('make', '{"n":500}'), { name: 'SandboxResultError' });
    }));

  it('limits - a timeout in callSync leaves the sandbox usable without a rebuild', () =>
    withSandbox(engine, { source: 'export function spin() { for (;;) {} }\nexport const ok = () => 1;' }, async (sandbox) => {
      assert.throws(() => sandbox.callSync('spin', 'null'), { name: 'SandboxTimeoutError' });
      assert.equal(sandbox.callSync('ok', 'null'), '1');
      assert.equal(sandbox.stats.recreations, 0);
    }));
}

function concurrencyCases(engine: SandboxEngine): void {
  const source = `
    export async function slow(x) { const v = await routr.wait(x.ms); return [x.id, v]; }
    export async function hang() { await routr.wait(1); for (;;) {} }
    export function fast(x) { return x.id; }
  `;
  const capabilities: Record<string, Capability> = { wait: { async: true, fn: async (ms) => (await sleep(Number(ms)), 'waited') } };

  it('concurrency - calls in flight on one sandbox each get their own result', () =>
    withSandbox(engine, { source, capabilities }, async (sandbox) => {
      const results = await Promise.all(Array.from({ length: 20 }, (_, id) => sandbox.call('slow', JSON.stringify({ id, ms: 20 - id }))));
      assert.deepEqual(results, Array.from({ length: 20 }, (_, id) => `[${id},"waited"]`));
    }));

  it('concurrency - a forced stop fails every call in flight, and the sandbox is rebuilt once', () =>
    withSandbox(engine, { source, capabilities }, async (sandbox) => {
      const others = Array.from({ length: 5 }, (_, id) => sandbox.call('slow', JSON.stringify({ id, ms: 500 })));
      const settled = await Promise.allSettled([sandbox.call('hang', 'null'), ...others]);
      for (const outcome of settled) {
        assert.equal(outcome.status, 'rejected');
        const { name } = outcome.reason as Error;
        assert.ok(['SandboxTimeoutError', 'SandboxAbortedError'].includes(name), name);
      }
      assert.equal((settled[0] as PromiseRejectedResult).reason.name, 'SandboxTimeoutError');
      const after = await Promise.all([sandbox.call('fast', '{"id":1}'), sandbox.call('fast', '{"id":2}'), sandbox.call('slow', '{"id":3,"ms":1}')]);
      assert.deepEqual(after, ['1', '2', '[3,"waited"]']);
      assert.equal(sandbox.stats.recreations, 1);
    }));

  // A call() that finishes within its first turn may already be done (an engine on the host's thread runs its
  // microtasks at once); one that waits on a promise that never settles is in flight on every engine.
  it('concurrency - callSync is refused while call()s are in flight', () =>
    withSandbox(engine, { source: 'export async function later() { await null; return 1; }\nexport const never = () => new Promise(() => {});\nexport const now = () => 2;' }, async (sandbox) => {
      const later = sandbox.call('later', 'null');
      const pending = sandbox.call('never', 'null');
      assert.throws(() => sandbox.callSync('now', 'null'), { name: 'SandboxUsageError' });
      assert.equal(await later, '1');
      await assert.rejects(pending, { name: 'SandboxTimeoutError' });
      assert.equal(await sandbox.call('now', 'null'), '2');
      assert.equal(sandbox.callSync('now', 'null'), '2');
    }));

  it('concurrency - dispose fails the calls in flight with SandboxDisposedError', async () => {
    const sandbox = await engine.create({ name: 'dispose-in-flight', source, capabilities, limits: { ...LIMITS, timeoutMs: 1000 } });
    const pending = sandbox.call('slow', '{"id":1,"ms":200}');
    await sleep(20);
    sandbox.dispose();
    await assert.rejects(pending, { name: 'SandboxDisposedError' });
  });
}
