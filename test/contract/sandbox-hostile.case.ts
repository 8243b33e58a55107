/**
 * Hostile code against a SandboxEngine, run unchanged against each engine. Every case must be contained: the call
 * fails with the right error class, the host's event loop keeps turning (or, on an engine that runs on the host's
 * thread, is held no longer than the time limit), and the same sandbox serves the next call (after a rebuild where
 * the isolate had to go). Where engines stop the same code in different ways (V8 builds strings as ropes, QuickJS
 * allocates them flat; QuickJS has no Atomics), a case names every outcome that still contains it.
 * Limits are small so the suite stays fast.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Capability, SandboxEngine } from '../../sandbox/types.js';
import { assertContained, LIMITS, OK_EXPORT, withSandbox } from './sandbox-support.js';

export function sandboxHostileContract(engine: SandboxEngine): void {
  describe(`sandbox hostile code (${engine.name})`, () => {
    runawayCases(engine);
    memoryCases(engine);
    garbageCases(engine);
    escapeCases(engine);
    isolationCases(engine);
  });
}

const waitCapability: Record<string, Capability> = { wait: { async: true, fn: () => new Promise((resolve) => setTimeout(() => resolve('ok'), 1)) } };

function runawayCases(engine: SandboxEngine): void {
  it('hostile - a synchronous infinite loop times out; under callSync the isolate stays', () =>
    withSandbox(engine, { source: 'export function spin() { for (;;) {} }\n' + OK_EXPORT }, async (sandbox) => {
      await assertContained(sandbox, 'spin', { fails: 'SandboxTimeoutError' });
      const { recreations } = sandbox.stats;
      assert.throws(() => sandbox.callSync('spin', 'null'), { name: 'SandboxTimeoutError' });
      assert.equal(sandbox.callSync('ok', '{"n":1}'), '2');
      assert.equal(sandbox.stats.recreations, recreations);
    }));

  it('hostile - an infinite loop after an await times out', () =>
    withSandbox(engine, { source: 'export async function spin() { await null; for (;;) {} }\n' + OK_EXPORT }, async (sandbox) => {
      await assertContained(sandbox, 'spin', { fails: 'SandboxTimeoutError' });
    }));

  it('hostile - an infinite loop after awaiting a host capability times out and the isolate is rebuilt', () =>
    withSandbox(engine, { source: 'export async function spin() { await routr.wait(); for (;;) {} }\n' + OK_EXPORT, capabilities: waitCapability }, async (sandbox) => {
      await assertContained(sandbox, 'spin', { fails: 'SandboxTimeoutError' });
      assert.equal(sandbox.stats.recreations, 1);
    }));

  it('hostile - a promise that never settles times out and the isolate is rebuilt', () =>
    withSandbox(engine, { source: 'export function never() { return new Promise(() => {}); }\n' + OK_EXPORT }, async (sandbox) => {
      const started = Date.now();
      await assertContained(sandbox, 'never', { fails: 'SandboxTimeoutError' });
      assert.ok(Date.now() - started < 1000);
      assert.equal(sandbox.stats.recreations, 1);
    }));

  it('hostile - Atomics.wait forever times out (or fails at once where the engine has no Atomics)', () =>
    withSandbox(engine, { source: 'export function block() { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); }\n' + OK_EXPORT }, async (sandbox) => {
      await assertContained(sandbox, 'block', { fails: ['SandboxTimeoutError', 'SandboxScriptError'] });
    }));

  it('hostile - unbounded recursion is a SandboxScriptError and the isolate stays', () =>
    withSandbox(engine, { source: 'export function deep() { return (function f(n) { return f(n + 1) + 1; })(0); }\n' + OK_EXPORT }, async (sandbox) => {
      const error = await assertContained(sandbox, 'deep', { fails: 'SandboxScriptError' });
      assert.match(error.message, /call stack/i);
      assert.throws(() => sandbox.callSync('deep', 'null'), { name: 'SandboxScriptError' });
      assert.equal(sandbox.stats.recreations, 0);
    }));

  it('hostile - flooding a log capability 100k times in one call leaves the host and the sandbox fine', async () => {
    let lines = 0;
    const capabilities: Record<string, Capability> = { 'log.info': { fn: () => void lines++ } };
    const source = 'export function flood() { for (let i = 0; i < 100000; i++) routr.log.info("line", i); return "done"; }\n' + OK_EXPORT;
    await withSandbox(engine, { source, capabilities, limits: { ...LIMITS, timeoutMs: 300 } }, async (sandbox) => {
      const outcome = await sandbox.call('flood', 'null').then(
        (value) => value,
        (e: Error) => e.name,
      );
      assert.ok(['"done"', 'SandboxTimeoutError'].includes(outcome), outcome);
      assert.ok(lines > 0 && lines <= 100000);
      assert.equal(await sandbox.call('ok', '{"n":1}'), '2');
    });
  });
}

function memoryCases(engine: SandboxEngine): void {
  const limits = { timeoutMs: 5000, memoryMb: 16 };

  it('hostile - unbounded array growth is a SandboxMemoryError and the isolate is rebuilt', () =>
    withSandbox(engine, { source: 'export function grow() { const a = []; for (;;) a.push([a.length, "x" + a.length]); }\n' + OK_EXPORT, limits }, async (sandbox) => {
      await assertContained(sandbox, 'grow', { fails: 'SandboxMemoryError' });
      assert.equal(sandbox.stats.recreations, 1);
      assert.throws(() => sandbox.callSync('grow', 'null'), { name: 'SandboxMemoryError' });
      assert.equal(sandbox.callSync('ok', '{"n":1}'), '2');
      assert.equal(sandbox.stats.recreations, 2);
    }));

  it('hostile - string doubling hits the string length limit or the memory cap', () =>
    withSandbox(
      engine,
      {
        source: `export function ropes() { let s = 'x'; for (;;) s += s; }\nexport function flat() { let s = 'x'; for (;;) { s += s; s.indexOf('y'); } }\n` + OK_EXPORT,
        limits,
      },
      async (sandbox) => {
        // V8 doubles a rope to its length limit (a RangeError); an engine with flat strings runs out of memory first.
        await assertContained(sandbox, 'ropes', { fails: ['SandboxScriptError', 'SandboxMemoryError'] });
        await assertContained(sandbox, 'flat', { fails: 'SandboxMemoryError' });
      },
    ));

  it('hostile - filling a huge sparse array is stopped by the memory cap', () =>
    withSandbox(engine, { source: 'export function fill() { return new Array(1e8).fill(0).length; }\nexport const small = () => [1, 2, 3, 4].fill(0, 1, -1);\n' + OK_EXPORT, limits }, async (sandbox) => {
      await assertContained(sandbox, 'fill', { fails: 'SandboxMemoryError' });
      assert.equal(await sandbox.call('small', 'null'), '[1,0,0,4]');
    }));

  // A string past the cap is refused as a result where the engine can build it cheaply (V8's ropes), and stopped by
  // the memory cap where building it needs the memory (QuickJS): either way it never reaches the host.
  const refused = ['SandboxResultError', 'SandboxMemoryError'];

  it('hostile - a 50 MB return value is refused (a SandboxResultError, or the memory cap)', () =>
    withSandbox(engine, { source: 'export const big = () => "x".repeat(50 * 1024 * 1024);\nexport const nested = () => ({ a: [1, { b: "x".repeat(50e6) }] });\n' + OK_EXPORT, limits: { ...LIMITS, memoryMb: 32 } }, async (sandbox) => {
      await assertContained(sandbox, 'big', { fails: refused });
      await assertContained(sandbox, 'nested', { fails: refused });
      assert.throws(() => sandbox.callSync('big', 'null'), (e: Error) => refused.includes(e.name));
    }));

  it('hostile - a 500 MB string bomb is refused without taking the host down', () =>
    withSandbox(engine, { source: 'export const bomb = () => "x".repeat(5e8);\nexport const bombToJSON = () => ({ toJSON() { return "y".repeat(5e8); } });\n' + OK_EXPORT, limits }, async (sandbox) => {
      const before = process.memoryUsage().rss;
      await assertContained(sandbox, 'bomb', { fails: refused });
      await assertContained(sandbox, 'bombToJSON', { fails: refused });
      assert.ok(process.memoryUsage().rss - before < 256 * 1024 * 1024, 'the bomb was materialised');
    }));
}

function garbageCases(engine: SandboxEngine): void {
  const source = `
    export const fn = () => () => 1;
    export const cyclic = () => { const o = { a: 1 }; o.self = o; return o; };
    export const nothing = () => undefined;
    export const big = () => 10n;
    export const sym = () => Symbol('s');
    export const nestedFn = () => ({ a: 1, f() {} });
    export const nestedBig = () => ({ a: [1n] });
    export const badToJSON = () => ({ toJSON() { throw new Error('nope'); } });
    export const throwString = () => { throw 'just a string'; };
    export const throwNumber = () => { throw 42; };
    export const throwNull = () => { throw null; };
    export const throwUndefined = () => { throw undefined; };
    export const throwObject = () => { throw { code: 7, why: 'object' }; };
    export const throwSymbol = () => { throw Symbol('sym'); };
    export const throwProxy = () => { throw new Proxy({}, { get() { throw new Error('trap'); }, ownKeys() { throw new Error('trap'); }, getPrototypeOf() { throw new Error('trap'); } }); };
    export async function rejectString() { await null; throw 'late string'; }
  ` + OK_EXPORT;

  it('hostile - results JSON cannot carry are SandboxResultErrors; undefined is "null"', () =>
    withSandbox(engine, { source }, async (sandbox) => {
      for (const name of ['fn', 'cyclic', 'big', 'sym', 'nestedFn', 'nestedBig', 'badToJSON']) {
        await assertContained(sandbox, name, { fails: 'SandboxResultError' });
        assert.throws(() => sandbox.callSync(name, 'null'), { name: 'SandboxResultError' }, name);
      }
      assert.equal(await sandbox.call('nothing', 'null'), 'null');
    }));

  it('hostile - thrown non-Errors are SandboxScriptErrors with a readable message', () =>
    withSandbox(engine, { source }, async (sandbox) => {
      const expected: Record<string, RegExp> = {
        throwString: /threw a string: just a string/,
        throwNumber: /threw a number: 42/,
        throwNull: /threw null/,
        throwUndefined: /threw undefined/,
        throwObject: /threw an object: \{"code":7,"why":"object"\}/,
        throwSymbol: /threw a symbol: Symbol\(sym\)/,
        throwProxy: /threw a value that could not be described|threw an object/,
        rejectString: /threw a string: late string/,
      };
      for (const [name, message] of Object.entries(expected)) {
        const error = await assertContained(sandbox, name, { fails: 'SandboxScriptError' });
        assert.match(error.message, message);
      }
      assert.throws(() => sandbox.callSync('throwSymbol', 'null'), { name: 'SandboxScriptError', message: /Symbol\(sym\)/ });
    }));
}

function escapeCases(engine: SandboxEngine): void {
  it('hostile - nothing of the host is reachable: process, require, module, timers, fetch, console', () =>
    withSandbox(
      engine,
      {
        source: `
          export function probe() {
            const viaFunction = (body) => { try { return typeof (0, ({}).constructor.constructor)(body)(); } catch (e) { return 'threw ' + e.name; } };
            const own = ({}).constructor.constructor('return this')();
            return {
              process: typeof process, require: typeof require, module: typeof module, globalProcess: typeof globalThis.process,
              setTimeout: typeof setTimeout, setInterval: typeof setInterval, setImmediate: typeof setImmediate, queueMicrotask: typeof queueMicrotask,
              fetch: typeof fetch, console: typeof console, Buffer: typeof Buffer, importMeta: typeof import.meta.url,
              ctorProcess: viaFunction('return process'), ctorRequire: viaFunction('return require'),
              ownGlobal: own === globalThis, ownHasProcess: 'process' in own,
              globals: Object.getOwnPropertyNames(globalThis).filter((k) => /^(process|require|module|Buffer|fetch|console|set(Timeout|Interval|Immediate)|queueMicrotask|ivm)$|^__/.test(k)),
            };
          }` + OK_EXPORT,
      },
      async (sandbox) => {
        const seen = JSON.parse(await sandbox.call('probe', 'null')) as Record<string, unknown>;
        assert.deepEqual(seen, {
          process: 'undefined', require: 'undefined', module: 'undefined', globalProcess: 'undefined',
          setTimeout: 'undefined', setInterval: 'undefined', setImmediate: 'undefined', queueMicrotask: 'undefined',
          fetch: 'undefined', console: 'undefined', Buffer: 'undefined', importMeta: 'undefined',
          ctorProcess: 'threw ReferenceError', ctorRequire: 'threw ReferenceError',
          ownGlobal: true, ownHasProcess: false,
          globals: [],
        });
      },
    ));

  it('hostile - capability functions lead nowhere: no prototype, constructor is the isolate Function', () =>
    withSandbox(
      engine,
      {
        source: `
          export async function probe() {
            const f = routr.log.info, g = routr.kv.get;
            const p = g('k');
            await p;
            return {
              proto: [f.prototype, g.prototype].map((x) => typeof x),
              ctor: f.constructor === Function && Object.getPrototypeOf(g).constructor === Object.getPrototypeOf(async function () {}).constructor,
              promiseIsLocal: p instanceof Promise,
              viaCtor: (() => { try { return typeof f.constructor('return process')(); } catch (e) { return e.name; } })(),
            };
          }` + OK_EXPORT,
        capabilities: { 'log.info': { fn: () => undefined }, 'kv.get': { async: true, fn: async () => 1 } },
      },
      async (sandbox) => {
        assert.equal(await sandbox.call('probe', 'null'), '{"proto":["undefined","undefined"],"ctor":true,"promiseIsLocal":true,"viaCtor":"ReferenceError"}');
      },
    ));

  it('hostile - mutating shared prototypes and JSON affects neither the host nor another sandbox', async () => {
    const vandal = `
      export function vandalise() {
        Object.prototype.polluted = 1;
        Array.prototype.map = () => 'hijacked';
        Array.prototype.push = () => { throw new Error('no push'); };
        JSON.stringify = () => '"hijacked"';
        JSON.parse = () => 'hijacked';
        Promise.prototype.then = function () { throw new Error('no then'); };
        String.prototype.slice = () => 'hijacked';
        Reflect.apply = () => 'hijacked';
        Object.keys = () => ['hijacked'];
        return 'done';
      }
      export const own = (x) => ({ x, map: [1, 2].map((n) => n), polluted: ({}).polluted, echo: routr.echo({ v: [1] }) });
      export async function later(x) { return { x }; }
    ` + OK_EXPORT;
    await withSandbox(engine, { source: vandal, capabilities: { echo: { fn: (v) => v } } }, async (a) => {
      await withSandbox(engine, { source: 'export const probe = () => ({ polluted: ({}).polluted, map: [1, 2].map((n) => n * 2), json: JSON.stringify({ a: 1 }) });' }, async (b) => {
        assert.equal(await a.call('vandalise', 'null'), '"done"');
        assert.equal(await a.call('own', '{"n":1}'), '{"x":{"n":1},"map":"hijacked","polluted":1,"echo":{"v":[1]}}');
        assert.equal(a.callSync('own', '{"n":2}'), '{"x":{"n":2},"map":"hijacked","polluted":1,"echo":{"v":[1]}}');
        assert.equal(await a.call('ok', '{"n":1}'), '2');
        assert.equal(await a.call('later', '{"n":3}'), '{"x":{"n":3}}');
        assert.equal(await b.call('probe', 'null'), '{"map":[2,4],"json":"{\\"a\\":1}"}');
        const plain: Record<string, unknown> = {};
        assert.equal(plain.polluted, undefined);
        assert.deepEqual([1, 2].map((n) => n + 1), [2, 3]);
        assert.equal(JSON.stringify({ a: 1 }), '{"a":1}');
        assert.equal(a.exports.includes('vandalise'), true);
      });
    });
  });
}

function isolationCases(engine: SandboxEngine): void {
  it('hostile - two sandboxes share no globals or module state', async () => {
    const source = `
      let counter = 0;
      export function touch(x) { globalThis.shared = x.mark; counter++; return { shared: globalThis.shared, counter }; }
      export function look() { return { shared: globalThis.shared ?? null, counter }; }
    `;
    await withSandbox(engine, { source }, async (a) => {
      await withSandbox(engine, { source }, async (b) => {
        assert.equal(await a.call('touch', '{"mark":"a"}'), '{"shared":"a","counter":1}');
        assert.equal(await a.call('touch', '{"mark":"a"}'), '{"shared":"a","counter":2}');
        assert.equal(await b.call('look', 'null'), '{"shared":null,"counter":0}');
        assert.equal(b.callSync('touch', '{"mark":"b"}'), '{"shared":"b","counter":1}');
        assert.equal(await a.call('look', 'null'), '{"shared":"a","counter":2}');
        assert.equal((globalThis as { shared?: unknown }).shared, undefined);
      });
    });
  });

  it('hostile - a rebuilt isolate starts from the source again, not from the old state', () =>
    withSandbox(engine, { source: 'let n = 0;\nexport const bump = () => ++n;\nexport function never() { return new Promise(() => {}); }' }, async (sandbox) => {
      assert.equal(await sandbox.call('bump', 'null'), '1');
      assert.equal(await sandbox.call('bump', 'null'), '2');
      await assert.rejects(sandbox.call('never', 'null'), { name: 'SandboxTimeoutError' });
      assert.equal(await sandbox.call('bump', 'null'), '1');
      assert.equal(sandbox.stats.recreations, 1);
    }));
}
