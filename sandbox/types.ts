/**
 * The sandbox engine interface: compile untrusted JavaScript, call into it with a time limit and a memory cap,
 * dispose it. It knows nothing of NATS or SIP: JSON text in, JSON text out. isolated-vm implements it on Node
 * (`ivm.ts`); another engine can implement it for Bun or Deno later. A contract suite
 * (`test/contract/sandbox.case.ts`) runs against every engine.
 */

export interface SandboxLimits {
  /** Wall-clock limit per call, in milliseconds (covers CPU loops and never-settling promises). */
  timeoutMs: number;
  /** Heap cap for the isolate, in MiB (isolated-vm's minimum is 8). */
  memoryMb: number;
}

/** Arguments and results of capabilities: anything JSON can carry. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface Capability {
  /** Called from inside the sandbox with copies of the arguments; its result is copied back. */
  fn: (...args: JsonValue[]) => JsonValue | undefined | void | Promise<JsonValue | undefined | void>;
  /** When true the sandbox sees a function returning a Promise (use for I/O); otherwise a plain function. */
  async?: boolean;
}

export interface SandboxOptions {
  /** For errors and logs, e.g. "processor:connect@1.2.0". */
  name: string;
  /** The entry ES module. It may import the modules in `modules` by their specifier, and nothing else. */
  source: string;
  filename?: string;
  modules?: Record<string, string>;
  limits: SandboxLimits;
  /**
   * Host functions, by dotted path: `{'log.info': ...}` appears in the sandbox as `routr.log.info(...)`.
   * Nothing else from the host exists in the sandbox: no process, require, timers, fs or network.
   */
  capabilities?: Record<string, Capability>;
  /** Largest JSON result accepted from a call, in bytes. Default 1 MiB. */
  maxResultBytes?: number;
}

export interface SandboxStats {
  calls: number;
  failures: number;
  /** Times the isolate was rebuilt after a memory breach or a forced stop. */
  recreations: number;
}

export interface Sandbox {
  readonly name: string;
  /**
   * Call an exported function of the entry module with one argument given as JSON text; the function may be
   * async. Resolves to the JSON text of its result (`undefined` becomes "null").
   * Rejects with SandboxTimeoutError, SandboxMemoryError, SandboxScriptError or SandboxResultError; after a
   * timeout or memory breach the isolate is rebuilt from the same source before the next call.
   */
  call(exportName: string, argJson: string): Promise<string>;
  /** Synchronous variant for small pure functions (router matchFuncs); same errors, thrown. */
  callSync(exportName: string, argJson: string): string;
  /** Names exported by the entry module. */
  readonly exports: readonly string[];
  readonly stats: SandboxStats;
  dispose(): void;
}

export interface SandboxEngine {
  readonly name: string;
  /** Compile and evaluate the entry module. Rejects with SandboxCompileError naming file, line and column. */
  create(options: SandboxOptions): Promise<Sandbox>;
}

export class SandboxError extends Error {
  override name = 'SandboxError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
export class SandboxCompileError extends SandboxError {
  override name = 'SandboxCompileError';
}
export class SandboxTimeoutError extends SandboxError {
  override name = 'SandboxTimeoutError';
}
export class SandboxMemoryError extends SandboxError {
  override name = 'SandboxMemoryError';
}
/** The code threw (anything, not only Errors) or rejected. */
export class SandboxScriptError extends SandboxError {
  override name = 'SandboxScriptError';
}
/** The result was not JSON-serializable or larger than maxResultBytes. */
export class SandboxResultError extends SandboxError {
  override name = 'SandboxResultError';
}
export class SandboxDisposedError extends SandboxError {
  override name = 'SandboxDisposedError';
}
