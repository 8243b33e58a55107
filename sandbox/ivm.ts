/**
 * The isolated-vm sandbox engine (Node only). One sandbox owns one isolate at a time (a "generation"); when a call
 * must be stopped by force — a host-side timeout, a memory breach — the isolate is disposed and the next call
 * rebuilds it from the same source, once, however many calls are waiting.
 *
 * Time limits have two layers. isolated-vm's own `timeout` stops synchronous code (and the microtasks drained
 * with it) and leaves the isolate usable. A host timer covers what it cannot see: code resuming after a host
 * capability settles, and promises that never settle. When the host timer fires the caller is rejected at once;
 * the isolate gets a short grace for isolated-vm's timeout to land, and is disposed if the call is still running.
 */
import { createRequire } from 'node:module';
import { FAILURE_RESULT } from './ivm-bootstrap.js';
import { buildGeneration, limitHit, runAsync, runSync, type BuildSpec, type DispatchResult, type Generation, type Ivm } from './ivm-build.js';
import { nodeSnapshotProblem } from './runtime.js';
import { withoutEngineFrames } from './source-location.js';
import { checkedSpec, overByteLimit, startTracked } from './spec.js';
import {
  SandboxAbortedError,
  SandboxDisposedError,
  SandboxError,
  SandboxMemoryError,
  SandboxResultError,
  SandboxScriptError,
  SandboxTimeoutError,
  SandboxUsageError,
  type Sandbox,
  type SandboxEngine,
  type SandboxEngineOptions,
  type SandboxOptions,
  type SandboxStats,
} from './types.js';

/** After a forced disposal, an isolate whose calls have not returned by then holds a wedged thread. */
const STUCK_AFTER_MS = 5000;

type StopReason = 'timeout' | 'memory' | 'disposed' | 'catastrophic';

interface Pending {
  done: boolean;
  engineDone: boolean;
  graceTimer: NodeJS.Timeout | undefined;
  reject(error: Error): void;
}

/** A generation plus what the sandbox tracks about it. */
class Live {
  readonly inflight = new Set<Pending>();
  stopped: StopReason | undefined;
  #grace = 0;
  #waiters: Array<() => void> = [];

  constructor(readonly gen: Generation) {}

  get usable(): boolean {
    return this.stopped === undefined && !this.gen.isolate.isDisposed;
  }
  get inGrace(): boolean {
    return this.#grace > 0;
  }
  enterGrace(): void {
    this.#grace++;
  }
  leaveGrace(): void {
    if (--this.#grace === 0) this.wake();
  }
  /** Resolves when no timed-out call is in its grace any more, or the generation stopped. */
  settled(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
  wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}

let ivmModule: Ivm | undefined;

/** Loaded on first use, so importing this file (via index.ts) never touches the native module. */
function loadIsolatedVm(): Ivm {
  if (!ivmModule) {
    ivmModule = createRequire(import.meta.url)('isolated-vm') as Ivm;
    // When Node frees its environment at a natural exit, the heap teardown destroys isolated-vm's remaining
    // handles (copies, references) after isolated-vm's own environment is gone, and now and then that aborts
    // the process in an assertion (IsolateEnvironment::GetCurrent). process.exit() does not tear the heap down
    // that way, so a process that loaded isolated-vm ends through it, with the exit code it was going to have.
    process.once('beforeExit', (code) => process.exit(code));
  }
  return ivmModule;
}

export class IsolatedVmEngine implements SandboxEngine {
  readonly name = 'isolated-vm';
  readonly #ivm: Ivm;
  readonly #options: SandboxEngineOptions;
  /** Every sandbox made and not yet disposed: disposed at shutdown, before Node tears isolated-vm down. */
  readonly #live = new Set<IsolatedVmSandbox>();

  constructor(options: SandboxEngineOptions = {}) {
    const problem = nodeSnapshotProblem();
    if (problem !== undefined) throw new SandboxError(problem);
    this.#ivm = loadIsolatedVm();
    this.#options = options;
  }

  async create(options: SandboxOptions): Promise<Sandbox> {
    return startTracked(this.#live, new IsolatedVmSandbox(specFrom(this.#ivm, options), this.#options));
  }

  disposeAll(): void {
    for (const sandbox of [...this.#live]) sandbox.dispose();
  }
}

function specFrom(ivm: Ivm, options: SandboxOptions): Omit<BuildSpec, 'onCatastrophicError'> {
  return { ivm, ...checkedSpec(options) };
}

export class IsolatedVmSandbox implements Sandbox {
  readonly #spec: BuildSpec;
  readonly #engineOptions: SandboxEngineOptions;
  readonly #stats: SandboxStats = { calls: 0, failures: 0, recreations: 0 };
  readonly #graceMs: number;
  readonly #syncOptions;
  readonly #asyncOptions;
  #exports: readonly string[] = [];
  #live: Live | undefined;
  #building: Promise<void> | undefined;
  #closed: { reason: 'disposed' | 'quarantined'; message: string } | undefined;
  #catastropheReported = false;

  constructor(spec: Omit<BuildSpec, 'onCatastrophicError'>, engineOptions: SandboxEngineOptions) {
    this.#spec = { ...spec, onCatastrophicError: (message) => this.#quarantine(`isolated-vm: ${message}`) };
    this.#engineOptions = engineOptions;
    this.#graceMs = Math.min(100, Math.max(20, Math.round(spec.timeoutMs / 4)));
    this.#syncOptions = { result: { copy: true }, timeout: spec.timeoutMs } as const;
    this.#asyncOptions = { result: { promise: true, copy: true }, timeout: spec.timeoutMs } as const;
  }

  get name(): string {
    return this.#spec.name;
  }
  get exports(): readonly string[] {
    return this.#exports;
  }
  get stats(): SandboxStats {
    return { ...this.#stats };
  }

  /** The first build: its failure is create()'s, and it is not a recreation. */
  async start(): Promise<void> {
    const live = this.#adopt(await runAsync(buildGeneration(this.#spec)), false);
    this.#exports = Object.freeze([...live.gen.exports]);
  }

  call(exportName: string, argJson: string): Promise<string> {
    this.#stats.calls++;
    // Start at once when the isolate is ready, so the call is in flight before call() returns.
    const live = this.#live;
    const running =
      this.#closed === undefined && live?.usable && !live.inGrace
        ? this.#run(live, exportName, argJson)
        : this.#liveAsync().then((ready) => this.#run(ready, exportName, argJson));
    return running.catch((e: unknown) => {
      this.#stats.failures++;
      throw e;
    });
  }

  callSync(exportName: string, argJson: string): string {
    this.#stats.calls++;
    try {
      const live = this.#liveSync();
      let result: DispatchResult;
      try {
        result = live.gen.dispatch.applySync(undefined, [exportName, argJson, false], this.#syncOptions) as DispatchResult;
      } catch (e) {
        throw this.#engineFailure(live, e, exportName);
      }
      return this.#decode(result, exportName);
    } catch (e) {
      this.#stats.failures++;
      throw e;
    }
  }

  /** Set by the engine, which keeps track of the sandboxes still alive. */
  onDisposed: (() => void) | undefined;

  dispose(): void {
    if (this.#closed !== undefined) return;
    this.#closed = { reason: 'disposed', message: `${this.name}: the sandbox was disposed` };
    if (this.#live !== undefined) this.#stop(this.#live, 'disposed');
    this.onDisposed?.();
  }

  #run(live: Live, exportName: string, argJson: string): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const pending: Pending = {
        done: false,
        engineDone: false,
        graceTimer: undefined,
        reject: (error) => {
          if (pending.done) return;
          pending.done = true;
          clearTimeout(timer);
          reject(error);
        },
      };
      const timer = setTimeout(() => this.#hostTimeout(live, pending, exportName), this.#spec.timeoutMs);
      live.inflight.add(pending);
      const settle = (): void => {
        pending.engineDone = true;
        live.inflight.delete(pending);
        if (pending.graceTimer !== undefined) {
          clearTimeout(pending.graceTimer);
          pending.graceTimer = undefined;
          live.leaveGrace();
        }
      };
      const failed = (e: unknown): void => {
        settle();
        pending.reject(this.#engineFailure(live, e, exportName));
      };
      let running: Promise<unknown>;
      try {
        running = live.gen.dispatch.apply(undefined, [exportName, argJson, true], this.#asyncOptions);
      } catch (e) {
        failed(e);
        return;
      }
      running.then((result) => {
        settle();
        if (pending.done) return;
        try {
          const json = this.#decode(result as DispatchResult, exportName);
          pending.done = true;
          clearTimeout(timer);
          resolve(json);
        } catch (e) {
          pending.reject(e as Error);
        }
      }, failed);
    });
  }

  #hostTimeout(live: Live, pending: Pending, exportName: string): void {
    pending.reject(this.#timeoutError(exportName));
    if (pending.engineDone || live.stopped !== undefined) return;
    live.enterGrace();
    pending.graceTimer = setTimeout(() => {
      pending.graceTimer = undefined;
      if (!pending.engineDone) this.#stop(live, 'timeout');
      live.leaveGrace();
    }, this.#graceMs);
  }

  /** The generation to run on: the live one, after any grace in progress, or a fresh one built once for all. */
  async #liveAsync(): Promise<Live> {
    for (;;) {
      this.#assertOpen();
      const live = this.#live;
      if (live?.usable && !live.inGrace) return live;
      if (live?.usable) {
        await live.settled();
        continue;
      }
      if (live !== undefined && live.stopped === undefined) this.#stop(live, 'memory');
      this.#building ??= runAsync(buildGeneration(this.#spec))
        .then((gen) => void this.#adopt(gen, true))
        .finally(() => {
          this.#building = undefined;
        });
      await this.#building;
    }
  }

  #liveSync(): Live {
    this.#assertOpen();
    if (this.#spec.host.hasAsync) {
      throw new SandboxUsageError(`${this.name}: callSync() is not available on a sandbox with async capabilities; use call()`);
    }
    const live = this.#live;
    if (this.#building !== undefined || (live !== undefined && live.inflight.size > 0)) {
      throw new SandboxUsageError(`${this.name}: callSync() would block behind call()s in flight on this sandbox; use call()`);
    }
    if (live?.usable) return live;
    if (live !== undefined && live.stopped === undefined) this.#stop(live, 'memory');
    return this.#adopt(runSync(buildGeneration(this.#spec)), true);
  }

  #adopt(gen: Generation, isRebuild: boolean): Live {
    if (this.#closed !== undefined) {
      gen.isolate.dispose();
      throw this.#closedError();
    }
    const live = new Live(gen);
    this.#live = live;
    if (isRebuild) this.#stats.recreations++;
    return live;
  }

  /** Dispose the isolate under a generation and fail every call still running on it. */
  #stop(live: Live, reason: StopReason): void {
    if (live.stopped !== undefined) return;
    live.stopped = reason;
    if (!live.gen.isolate.isDisposed) live.gen.isolate.dispose();
    const victims = [...live.inflight];
    for (const pending of victims) {
      pending.reject(
        reason === 'disposed' || reason === 'catastrophic'
          ? this.#closedError()
          : new SandboxAbortedError(
              `${this.name}: the call was stopped because another call on this sandbox ` +
                (reason === 'timeout' ? 'timed out' : 'exceeded the memory cap'),
            ),
      );
    }
    live.wake();
    if (victims.length > 0 && reason !== 'catastrophic') {
      setTimeout(() => {
        if (victims.some((p) => !p.engineDone)) this.#quarantine(`an isolate did not stop within ${STUCK_AFTER_MS} ms of being disposed`);
      }, STUCK_AFTER_MS).unref();
    }
  }

  #quarantine(message: string): void {
    this.#closed ??= { reason: 'quarantined', message: `${this.name}: quarantined after a catastrophic isolate failure (${message})` };
    if (this.#live !== undefined) this.#stop(this.#live, 'catastrophic');
    if (this.#catastropheReported) return;
    this.#catastropheReported = true;
    this.#engineOptions.onCatastrophicError?.(this.name, message);
  }

  #assertOpen(): void {
    if (this.#closed !== undefined) throw this.#closedError();
  }

  #timeoutError(exportName: string, cause?: unknown): SandboxTimeoutError {
    return new SandboxTimeoutError(`${this.name}: ${exportName}() did not finish within ${this.#spec.timeoutMs} ms`, { cause });
  }

  #closedError(): SandboxDisposedError {
    return new SandboxDisposedError(this.#closed?.message ?? `${this.name}: the sandbox was disposed`);
  }

  /** Errors from isolated-vm itself (the dispatcher catches everything the code throws): limits and teardown. */
  #engineFailure(live: Live, e: unknown, exportName: string): Error {
    const message = e instanceof Error ? e.message : String(e);
    const limit = limitHit(e);
    if (limit === 'memory') {
      this.#stop(live, 'memory');
      return new SandboxMemoryError(`${this.name}: ${exportName}() exceeded the ${this.#spec.memoryMb} MiB memory cap`, { cause: e });
    }
    if (limit === 'timeout') return this.#timeoutError(exportName, e);
    if (this.#closed !== undefined) return this.#closedError();
    if (live.stopped !== undefined || live.gen.isolate.isDisposed) {
      return new SandboxAbortedError(`${this.name}: ${exportName}() was stopped with its isolate (${message})`, { cause: e });
    }
    return new SandboxScriptError(`${this.name}: ${exportName}(): ${message}`, { cause: e });
  }

  #decode(result: DispatchResult, exportName: string): string {
    if (typeof result === 'string') {
      const max = this.#spec.maxResultBytes;
      if (overByteLimit(result, max)) {
        throw new SandboxResultError(`${this.name}: ${exportName}(): the result is larger than ${max} bytes`);
      }
      return result;
    }
    const [kind, message, stack] = result;
    const text = `${this.name}: ${exportName}(): ${message}`;
    if (kind === FAILURE_RESULT) throw new SandboxResultError(text);
    throw new SandboxScriptError(text, { sandboxStack: withoutEngineFrames(stack) });
  }
}
