/**
 * Shared pieces of the sandbox contract cases: small limits so hostile cases end fast, a sandbox that is always
 * disposed, and a heartbeat that bounds how long the host's event loop was held while a sandbox misbehaved.
 */
import assert from 'node:assert/strict';
import type { Sandbox, SandboxEngine, SandboxLimits, SandboxOptions } from '../../sandbox/types.js';

export const LIMITS = { timeoutMs: 100, memoryMb: 16 } as const;

export type SandboxSpec = Omit<SandboxOptions, 'name' | 'limits'> & Partial<Pick<SandboxOptions, 'name' | 'limits'>>;

/** What a contract may expect of an engine beyond the interface, said by the test file that runs it. */
export interface EngineTraits {
  /**
   * The engine runs guest code on the host's thread (QuickJS in WebAssembly): a misbehaving call holds the
   * host's event loop, but never much past its own time limit. Otherwise (isolated-vm) the loop keeps turning.
   */
  runsOnHostThread?: boolean;
}

const traitsOf = new WeakMap<SandboxEngine, EngineTraits>();
const madeBy = new WeakMap<Sandbox, { traits: EngineTraits; limits: SandboxLimits }>();

export function declareTraits(engine: SandboxEngine, traits: EngineTraits): void {
  traitsOf.set(engine, traits);
}

let counter = 0;

export async function withSandbox(engine: SandboxEngine, spec: SandboxSpec, run: (sandbox: Sandbox) => Promise<void>): Promise<void> {
  const sandbox = await engine.create({ name: `case-${++counter}`, limits: LIMITS, ...spec });
  madeBy.set(sandbox, { traits: traitsOf.get(engine) ?? {}, limits: spec.limits ?? LIMITS });
  try {
    await run(sandbox);
  } finally {
    sandbox.dispose();
  }
}

interface Heartbeat<T> {
  value: T | undefined;
  error: unknown;
  /** Host timer ticks (every 5 ms) seen while `work` ran; a host blocked by the sandbox would count none. */
  ticks: number;
  elapsedMs: number;
}

export async function withHeartbeat<T>(work: () => Promise<T>): Promise<Heartbeat<T>> {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  const started = performance.now();
  const beat = (value: T | undefined, error: unknown): Heartbeat<T> => ({ value, error, ticks, elapsedMs: performance.now() - started });
  try {
    return beat(await work(), undefined);
  } catch (error) {
    return beat(undefined, error);
  } finally {
    clearInterval(timer);
  }
}

/**
 * The call must fail with the error named `fails` (or one of them, where engines differ in how they stop the
 * same code), the host must have kept ticking (or, on an engine that runs on the host's thread, been held no
 * longer than the call's time limit and some slack), and the same sandbox must serve `ok`.
 */
export async function assertContained(sandbox: Sandbox, exportName: string, expected: { fails: string | string[] }): Promise<Error> {
  const names = typeof expected.fails === 'string' ? [expected.fails] : expected.fails;
  const { error, ticks, elapsedMs } = await withHeartbeat(() => sandbox.call(exportName, 'null'));
  assert.ok(error instanceof Error, `${exportName}() should have failed`);
  assert.ok(names.includes(error.name), `${exportName}(): ${error.name} is not ${names.join(' or ')}: ${error.message}`);
  const made = madeBy.get(sandbox);
  if (made?.traits.runsOnHostThread) {
    // Generous for a loaded machine: what it rules out is a thread held indefinitely, or for several limits.
    const bound = made.limits.timeoutMs * 3 + 200;
    assert.ok(elapsedMs < bound, `the host's thread was held ${Math.round(elapsedMs)} ms, past the ${made.limits.timeoutMs} ms limit`);
  } else {
    assert.ok(elapsedMs < 30 || ticks > 0, `the host event loop stalled for ${Math.round(elapsedMs)} ms while the sandbox misbehaved`);
  }
  assert.equal(await sandbox.call('ok', '{"n":41}'), '42', 'the sandbox did not serve the next call');
  return error;
}

/** Appended to hostile sources so every case can check the sandbox still works afterwards. */
export const OK_EXPORT = 'export function ok(x) { return x.n + 1; }\n';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
