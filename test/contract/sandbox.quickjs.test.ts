/**
 * The sandbox contract and hostile suites against the QuickJS-ng engine (WebAssembly: the engine for Bun and
 * Deno, and a choice on Node), plus what only this engine promises: it runs guest code on the host's thread, so
 * it bounds how long one call may hold that thread, and tells the host when native work overran anyway.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { QuickJSEngine } from '../../sandbox/quickjs.js';
import { sandboxHostileContract } from './sandbox-hostile.case.js';
import { declareTraits, sleep, withSandbox } from './sandbox-support.js';
import { sandboxContract } from './sandbox.case.js';

const engine = new QuickJSEngine();
declareTraits(engine, { runsOnHostThread: true });
sandboxContract(engine);
sandboxHostileContract(engine);
after(() => engine.disposeAll());

// One native operation QuickJS runs to its end without checking the deadline (a 10 MB join): a few hundred ms.
const NATIVE = 'export const join = () => Array(5e6).join("ab").length;\nexport const ok = () => 1;';

describe('sandbox quickjs - the host thread', () => {
  it('quickjs - a result that arrives past the deadline is a SandboxTimeoutError, and the sandbox stays', () =>
    withSandbox(engine, { source: NATIVE, limits: { timeoutMs: 10, memoryMb: 64 } }, async (sandbox) => {
      assert.throws(() => sandbox.callSync('join', 'null'), { name: 'SandboxTimeoutError' });
      await assert.rejects(sandbox.call('join', 'null'), { name: 'SandboxTimeoutError' });
      assert.equal(sandbox.callSync('ok', 'null'), '1');
    }));

  it('quickjs - a continuation no call waits for still runs under a time limit, and the sandbox is rebuilt', () =>
    withSandbox(
      engine,
      {
        source: 'export function kick() { routr.wait().then(() => { for (;;) {} }); return 1; }\nexport const ok = () => 2;',
        capabilities: { wait: { async: true, fn: () => sleep(1) } },
      },
      async (sandbox) => {
        assert.equal(await sandbox.call('kick', 'null'), '1');
        const started = performance.now();
        await sleep(20);
        assert.ok(performance.now() - started < 1000, 'the stray loop held the host past the time limit');
        assert.equal(await sandbox.call('ok', 'null'), '2');
        assert.equal(sandbox.stats.recreations, 1);
      },
    ));

  it('quickjs - native work that held the thread far past the deadline quarantines the sandbox and tells the host', async () => {
    const reports: string[] = [];
    const strict = new QuickJSEngine({ onCatastrophicError: (name, message) => reports.push(`${name}: ${message}`) }, { overrunMs: 30 });
    try {
      const sandbox = await strict.create({ name: 'overrun', source: NATIVE, limits: { timeoutMs: 10, memoryMb: 64 } });
      assert.throws(() => sandbox.callSync('join', 'null'), { name: 'SandboxTimeoutError' });
      await sleep(0);
      assert.equal(reports.length, 1);
      assert.match(reports[0] ?? '', /^overrun: QuickJS held the host's thread \d+ ms past its deadline$/);
      assert.throws(() => sandbox.callSync('ok', 'null'), { name: 'SandboxDisposedError', message: /quarantined/ });
      await assert.rejects(sandbox.call('ok', 'null'), { name: 'SandboxDisposedError' });
    } finally {
      strict.disposeAll();
    }
  });
});
