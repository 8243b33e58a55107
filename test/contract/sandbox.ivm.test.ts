/**
 * The sandbox contract and hostile suites against the isolated-vm engine, plus what only this engine and the
 * engine chooser promise: the --no-node-snapshot guard, the runtime check, and lazy loading of the native addon.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createEngine, detectRuntime, engineFor, IsolatedVmEngine, nodeSnapshotProblem } from '../../sandbox/index.js';
import { sandboxHostileContract } from './sandbox-hostile.case.js';
import { sandboxContract } from './sandbox.case.js';

const engine = new IsolatedVmEngine();
sandboxContract(engine);
sandboxHostileContract(engine);
// Isolates left for Node's teardown at exit can abort the process (an isolated-vm assertion); dispose them.
after(() => engine.disposeAll());

const indexPath = fileURLToPath(new URL('../../sandbox/index.js', import.meta.url));

function runChild(script: string, flags: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  const child = spawnSync(process.execPath, [...flags, '--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 20000,
    env: { ...process.env, NODE_OPTIONS: '', ...env },
  });
  return { status: child.status, stdout: child.stdout, stderr: child.stderr };
}

describe('sandbox engine chooser (isolated-vm)', () => {
  it('createEngine - on Node gives the isolated-vm engine', () => {
    assert.equal(detectRuntime(), 'node');
    assert.equal(createEngine().name, 'isolated-vm');
  });

  it('createEngine - without --no-node-snapshot it throws a clear error instead of crashing later', () => {
    const script = `
      const { createEngine } = await import(${JSON.stringify(indexPath)});
      const say = (line) => process.stdout.write(line + '\\n');
      try { createEngine(); say('created'); } catch (e) { say(e.name + ': ' + e.message); }
    `;
    const bare = runChild(script, []);
    assert.equal(bare.status, 0, bare.stderr);
    assert.match(bare.stdout, /^SandboxError: .*--no-node-snapshot/);
    assert.equal(runChild(script, ['--no-node-snapshot']).stdout.trim(), 'created');
    assert.equal(runChild(script, [], { NODE_OPTIONS: '--no-node-snapshot' }).stdout.trim(), 'created');
  });

  it('nodeSnapshotProblem - reads execArgv and NODE_OPTIONS, and ignores Node before 20', () => {
    const launch = { nodeVersion: '20.11.0', execArgv: [] as string[], nodeOptions: undefined as string | undefined };
    assert.match(nodeSnapshotProblem(launch) ?? '', /--no-node-snapshot/);
    assert.equal(nodeSnapshotProblem({ ...launch, execArgv: ['--no-node-snapshot'] }), undefined);
    assert.equal(nodeSnapshotProblem({ ...launch, nodeOptions: '--max-old-space-size=512 --no-node-snapshot' }), undefined);
    assert.equal(nodeSnapshotProblem({ ...launch, nodeVersion: '18.19.0' }), undefined);
  });

  it('createEngine - on Bun or Deno auto gives quickjs, and isolated-vm is refused plainly', () => {
    const g = globalThis as { Bun?: unknown; Deno?: unknown };
    for (const runtime of ['Bun', 'Deno'] as const) {
      g[runtime] = {};
      try {
        assert.equal(createEngine().name, 'quickjs');
        assert.throws(() => createEngine({ engine: 'isolated-vm' }), { name: 'SandboxError', message: new RegExp(`loads only on Node \\(this is ${runtime.toLowerCase()}\\)`) });
      } finally {
        delete g[runtime];
      }
    }
  });

  it('engineFor - auto is isolated-vm on Node only; a named engine is kept; an unknown name is refused', () => {
    assert.equal(engineFor('auto', 'node'), 'isolated-vm');
    assert.equal(engineFor(undefined, 'node'), 'isolated-vm');
    for (const runtime of ['bun', 'deno', 'unknown'] as const) assert.equal(engineFor('auto', runtime), 'quickjs');
    assert.equal(engineFor('quickjs', 'node'), 'quickjs');
    assert.equal(createEngine({ engine: 'quickjs' }).name, 'quickjs');
    assert.throws(() => engineFor('v8' as never, 'node'), { name: 'SandboxError', message: /unknown sandbox engine "v8"/ });
  });

  it('index - importing the sandbox package does not load the native addon', () => {
    const script = `
      import { createRequire } from 'node:module';
      await import(${JSON.stringify(indexPath)});
      const loaded = Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('isolated-vm'));
      process.stdout.write(loaded ? 'loaded' : 'not loaded');
    `;
    assert.equal(runChild(script, []).stdout.trim(), 'not loaded');
  });
});
