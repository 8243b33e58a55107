/**
 * The sandbox engine interface: compile untrusted JavaScript, call into it with a time limit and a memory cap,
 * dispose it. It knows nothing of NATS or SIP: JSON text in, JSON text out. isolated-vm implements it on Node
 * (`ivm.ts`), QuickJS-ng in WebAssembly on every runtime (`quickjs.ts`). The contract suites
 * (`test/contract/sandbox.case.ts`, `sandbox-hostile.case.ts`) run against every engine.
 */

export interface SandboxLimits {
  /** Wall-clock limit per call, in milliseconds (covers CPU loops and never-settling promises). */
  timeoutMs: number;
  /** Heap cap for the isolate, in MiB (the minimum is 8; QuickJS rounds its instance's ceiling up to 16 MiB). */
  memoryMb: number;
}

/** Arguments and results of capabilities: anything JSON can carry. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface Capability {
  /**
   * Called from inside the sandbox with copies of the arguments, carried as JSON text (so an `undefined` argument
   * arrives as null); its result is copied back the same way. If it throws (or its promise rejects), the sandbox
   * sees an ordinary Error carrying the message only. Sync capabilities called from `call()` cost a hop to the
   * host's event loop each (≈ 50–100 µs), so keep them few per call; from `callSync()` they cost ≈ 5 µs.
   */
  fn: (...args: JsonValue[]) => JsonValue | undefined | void | Promise<JsonValue | undefined | void>;
  /** When true the sandbox sees a function returning a Promise (use for I/O); otherwise a plain function. */
  async?: boolean;
  /**
   * A pure read of data that changes in steps (a resource set swapped on reload): the sandbox keeps each result,
   * by its arguments, inside the sandbox and answers repeats without crossing, for as long as `version()` returns
   * the same number. Capabilities sharing one `version` function are one group; the guest asks the host for the
   * groups' versions at most once per call into the sandbox (one crossing), and drops a group's results when its
   * version moved. Results handed out this way are deep-frozen (every caller shares them). Sync only.
   */
  cache?: { version: () => number };
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
   * timeout or memory breach the isolate is rebuilt from the same source before the next call. Other calls in
   * flight on an isolate that had to be stopped reject with SandboxAbortedError; SandboxDisposedError after
   * dispose(). Several calls may be in flight at once; the engine serialises their execution.
   */
  call(exportName: string, argJson: string): Promise<string>;
  /**
   * Synchronous variant for small pure functions (router matchFuncs); same errors, thrown. It runs on the caller's
   * thread, so it throws SandboxUsageError rather than wait behind call()s in flight, and on sandboxes with async
   * capabilities (their continuations would run outside any call's time limit). An export returning a Promise
   * fails with SandboxResultError.
   */
  callSync(exportName: string, argJson: string): string;
  /** Names exported by the entry module. */
  readonly exports: readonly string[];
  readonly stats: SandboxStats;
  dispose(): void;
}

export interface SandboxEngine {
  readonly name: string;
  /**
   * Compile and evaluate the entry module. Rejects with SandboxCompileError naming file, line and column (also when
   * the top-level code throws, times out or breaches the memory cap).
   */
  create(options: SandboxOptions): Promise<Sandbox>;
  /**
   * Dispose every sandbox this engine made that is still alive. Call at shutdown: isolates left for the
   * runtime's own teardown at exit can abort the process (isolated-vm asserts on a missing environment).
   */
  disposeAll(): void;
}

/** Which engine `createEngine()` gives: `auto` is isolated-vm on Node and quickjs on every other runtime. */
export type SandboxEngineChoice = 'auto' | 'isolated-vm' | 'quickjs';
export const SANDBOX_ENGINE_CHOICES: readonly SandboxEngineChoice[] = ['auto', 'isolated-vm', 'quickjs'];

export interface SandboxEngineOptions {
  /** Default `auto`. */
  engine?: SandboxEngineChoice;
  /**
   * The engine lost control of a sandbox (isolated-vm's catastrophic error, or code that would not stop after a
   * forced disposal; for QuickJS, native work that held the host's thread long past the deadline). The sandbox is
   * quarantined: its calls reject with SandboxDisposedError and it is not rebuilt. A thread may be wedged for
   * good, or was blocked for seconds, so the host should stop taking work, drain, and restart the process.
   */
  onCatastrophicError?: (sandboxName: string, message: string) => void;
}

export class SandboxError extends Error {
  override name = 'SandboxError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface SourceLocation {
  file: string;
  line: number;
  column: number;
}

export class SandboxCompileError extends SandboxError {
  override name = 'SandboxCompileError';
  /** Where the failure points, when the engine could tell. */
  readonly location: SourceLocation | undefined;
  constructor(message: string, options?: { cause?: unknown; location?: SourceLocation }) {
    super(message, options);
    this.location = options?.location;
  }
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
  /** The stack inside the sandbox (file:line:column of the user code), when the thrown value was an Error. */
  readonly sandboxStack: string | undefined;
  constructor(message: string, options?: { cause?: unknown; sandboxStack?: string }) {
    super(message, options);
    this.sandboxStack = options?.sandboxStack || undefined;
  }
}
/** The result was not JSON-serializable or larger than maxResultBytes. */
export class SandboxResultError extends SandboxError {
  override name = 'SandboxResultError';
}
/** The sandbox was disposed (or quarantined); it serves no more calls. */
export class SandboxDisposedError extends SandboxError {
  override name = 'SandboxDisposedError';
}
/**
 * This call was cut short because the isolate under it had to be stopped for another call on the same sandbox
 * (that one timed out or breached the memory cap). The sandbox itself stays usable (it is rebuilt), so the caller
 * may treat this as a failed call and carry on. Calls in flight when dispose() runs get SandboxDisposedError.
 */
export class SandboxAbortedError extends SandboxDisposedError {
  override name = 'SandboxAbortedError';
}
/**
 * The call was refused because of how it was made, not because of the code: callSync() while call()s are in
 * flight on the same sandbox, or on a sandbox with async capabilities (either could block the host's event loop).
 */
export class SandboxUsageError extends SandboxError {
  override name = 'SandboxUsageError';
}
