/**
 * The sandbox package's public face: the engine interface, its errors, and `createEngine()`, the one place that
 * picks an engine for the runtime we are on. Today that is isolated-vm on Node; on Bun or Deno it says so plainly.
 * Importing this module never loads a native addon, so it is safe on every runtime.
 */
import { IsolatedVmEngine } from './ivm.js';
import { detectRuntime } from './runtime.js';
import { SandboxError, type SandboxEngine, type SandboxEngineOptions } from './types.js';

export {
  SandboxAbortedError,
  SandboxCompileError,
  SandboxDisposedError,
  SandboxError,
  SandboxMemoryError,
  SandboxResultError,
  SandboxScriptError,
  SandboxTimeoutError,
  SandboxUsageError,
  type Capability,
  type JsonValue,
  type Sandbox,
  type SandboxEngine,
  type SandboxEngineOptions,
  type SandboxLimits,
  type SandboxOptions,
  type SandboxStats,
  type SourceLocation,
} from './types.js';
export { IsolatedVmEngine } from './ivm.js';
export { detectRuntime, nodeSnapshotProblem, type NodeLaunch, type RuntimeName } from './runtime.js';

/**
 * The sandbox engine for this runtime. Throws SandboxError when there is none, or when Node was started without
 * --no-node-snapshot (isolated-vm would crash the process later instead).
 */
export function createEngine(options: SandboxEngineOptions = {}): SandboxEngine {
  const runtime = detectRuntime();
  if (runtime === 'node') return new IsolatedVmEngine(options);
  throw new SandboxError(
    `no sandbox engine for this runtime yet (${runtime}): routr's sandbox runs on isolated-vm, which loads only on Node`,
  );
}
