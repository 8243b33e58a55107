/**
 * The sandbox package's public face: the engine interface, its errors, and `createEngine()`, the one place that
 * picks an engine: isolated-vm on Node (V8 isolates on their own threads), QuickJS-ng in WebAssembly on Bun and
 * Deno, or whichever the caller names. Importing this module never loads a native addon or WebAssembly, so it is
 * safe on every runtime.
 */
import { IsolatedVmEngine } from './ivm.js';
import { QuickJSEngine } from './quickjs.js';
import { detectRuntime, type RuntimeName } from './runtime.js';
import { SANDBOX_ENGINE_CHOICES, SandboxError, type SandboxEngine, type SandboxEngineChoice, type SandboxEngineOptions } from './types.js';

export {
  SANDBOX_ENGINE_CHOICES,
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
  type SandboxEngineChoice,
  type SandboxEngineOptions,
  type SandboxLimits,
  type SandboxOptions,
  type SandboxStats,
  type SourceLocation,
} from './types.js';
export { IsolatedVmEngine } from './ivm.js';
export { QuickJSEngine } from './quickjs.js';
export { detectRuntime, nodeSnapshotProblem, type NodeLaunch, type RuntimeName } from './runtime.js';

/** The engine a choice means on a runtime: `auto` is isolated-vm on Node only (it is a Node addon). */
export function engineFor(choice: SandboxEngineChoice = 'auto', runtime: RuntimeName = detectRuntime()): 'isolated-vm' | 'quickjs' {
  if (!SANDBOX_ENGINE_CHOICES.includes(choice)) {
    throw new SandboxError(`unknown sandbox engine "${String(choice)}" (one of ${SANDBOX_ENGINE_CHOICES.join(', ')})`);
  }
  if (choice === 'auto') return runtime === 'node' ? 'isolated-vm' : 'quickjs';
  if (choice === 'isolated-vm' && runtime !== 'node') {
    throw new SandboxError(`the isolated-vm sandbox engine loads only on Node (this is ${runtime}); use quickjs, or auto`);
  }
  return choice;
}

/**
 * The sandbox engine `options.engine` names (default `auto`). Throws SandboxError for isolated-vm anywhere but
 * Node, and when Node was started without --no-node-snapshot (isolated-vm would crash the process later instead).
 */
export function createEngine(options: SandboxEngineOptions = {}): SandboxEngine {
  return engineFor(options.engine) === 'isolated-vm' ? new IsolatedVmEngine(options) : new QuickJSEngine(options);
}
