/**
 * The QuickJS-ng sandbox engine: QuickJS compiled to WebAssembly, so it runs wherever WebAssembly does (Node,
 * Bun, Deno) with no native build. Each sandbox has its own WebAssembly instance (its own memory, with a hard
 * ceiling) and on it one generation at a time (quickjs-build.ts). QuickJS runs on the host's thread: a call
 * enters it synchronously, bounded by an interrupt deadline, and async exports resume when the host hands in a
 * capability's reply and runs the pending jobs, each time under the earliest deadline of the calls in flight.
 *
 * What stops a generation, as for isolated-vm: a memory breach (QuickJS's malloc limit, or the instance's
 * ceiling), a timeout in call() (a loop the interrupt stopped, or a host timer for a promise that never
 * settles), dispose(). Every call in flight on it fails (the one over its deadline with SandboxTimeoutError, the
 * others with SandboxAbortedError; after a breach in pending jobs, where the culprit cannot be told, all with
 * SandboxMemoryError) and the next call builds a new generation — on a fresh instance in call(), which gives the
 * memory back, and in callSync(), which must not wait, on the same instance the first time and on a spare made
 * meanwhile after that. A timeout in callSync() leaves the generation as it is, as isolated-vm's timeout leaves
 * the isolate.
 *
 * There is no thread to lose, so onCatastrophicError means one thing here: an entry into QuickJS that returned
 * long after its deadline (native work the interrupt does not reach held the host's thread). That sandbox is
 * quarantined, and the host is told it should restart: its event loop was blocked for that long.
 */
import { FAILURE_MARK } from './quickjs-bootstrap.js';
import { failureOf, loadFailure, QuickJSGeneration, type Limit, type Outcome } from './quickjs-build.js';
import { instantiate, type WasmInstance } from './quickjs-wasm.js';
import { withoutEngineFrames } from './source-location.js';
import { checkedSpec, overByteLimit, startTracked, type SandboxSpec } from './spec.js';
import {
  SandboxAbortedError,
  SandboxCompileError,
  SandboxDisposedError,
  SandboxMemoryError,
  SandboxResultError,
  SandboxScriptError,
  SandboxTimeoutError,
  SandboxUsageError,
  type Sandbox,
  type SandboxEngine,
  type SandboxEngineOptions,
  type JsonValue,
  type SandboxOptions,
  type SandboxStats,
} from './types.js';

/**
 * An entry that returns this long after its deadline held the host's thread: quarantine (see above). QuickJS
 * checks the deadline between operations, so one native operation runs to its end: measured, a 10 MB join or
 * the largest BigInt power takes under a second within a 64 MiB cap.
 */
const OVERRUN_MS = 5000;

/** Engine-specific settings, beside the SandboxEngineOptions every engine takes. */
export interface QuickJSSettings {
  /** See OVERRUN_MS (tests make it small). */
  overrunMs?: number;
}
const OUT_OF_MEMORY = /^InternalError: out of memory$/;
/** The longest the bootstrap may take (a cold engine compiles its WebAssembly functions on first use). */
const SETUP_MS = 1000;

export class QuickJSEngine implements SandboxEngine {
  readonly name = 'quickjs';
  readonly #options: SandboxEngineOptions;
  readonly #overrunMs: number;
  readonly #live = new Set<QuickJSSandbox>();

  constructor(options: SandboxEngineOptions = {}, settings: QuickJSSettings = {}) {
    this.#options = options;
    this.#overrunMs = settings.overrunMs ?? OVERRUN_MS;
  }

  async create(options: SandboxOptions): Promise<Sandbox> {
    const spec = checkedSpec(options);
    await warmedUp();
    return startTracked(this.#live, new QuickJSSandbox(spec, this.#options, this.#overrunMs));
  }

  disposeAll(): void {
    for (const sandbox of [...this.#live]) sandbox.dispose();
  }
}

/**
 * V8 and JSC compile WebAssembly functions lazily and tier them up as they run: the first sandbox of a process
 * would pay for that inside its own time limit (measured: a first call of well over 100 ms on a loaded machine).
 * So once per process a throwaway sandbox runs the whole path first: bootstrap, modules, top-level await on a
 * capability, sync and async calls, JSON both ways. Its failure is ignored: the real sandbox reports its own.
 */
let warming: Promise<void> | undefined;

function warmedUp(): Promise<void> {
  warming ??= (async () => {
    const capabilities = { 'warm.sync': { fn: (v: JsonValue) => v }, 'warm.async': { async: true, fn: async (v: JsonValue) => v } };
    const spec = checkedSpec({ name: 'routr:warm-up', source: WARM_UP, modules: { lib: WARM_LIB }, limits: { timeoutMs: 10_000, memoryMb: 16 }, capabilities });
    const sandbox = new QuickJSSandbox(spec, {}, OVERRUN_MS);
    try {
      await sandbox.start();
      for (let i = 0; i < 20; i++) await sandbox.call('decide', WARM_ARG);
      for (let i = 0; i < 20; i++) sandbox.callSync('match', WARM_ARG);
    } catch {
      // The real sandbox meets the same failure, and reports it.
    } finally {
      sandbox.dispose();
    }
  })();
  return warming;
}

const WARM_LIB = 'export class Point { constructor(x, y) { this.x = x; this.y = y; } get sum() { return this.x + this.y; } }';
const WARM_UP = `import { Point } from 'lib';
const ready = await routr.warm.async({ ok: true });
export async function decide(req) {
  const echoed = await routr.warm.async(req.headers);
  const points = req.list.map((n) => new Point(n, n * 2)).filter((p) => p.sum % 3);
  return { action: 'forward', ready, n: points.length, text: JSON.stringify(echoed).length, re: /a(b+)c/.exec('xabbc')[1] };
}
export function match(req) { return routr.warm.sync(req.method) === 'INVITE' && req.uri.startsWith('sip:') ? 1 : -1; }`;
const WARM_ARG = JSON.stringify({
  method: 'INVITE',
  uri: 'sip:bob@biloxi.example.com',
  headers: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`x-header-${i}`, `value ${i} é`])),
  list: Array.from({ length: 50 }, (_, i) => i),
});

interface InFlight {
  exportName: string;
  deadline: number;
  /** The guest's id for the call once the dispatcher returned it. */
  id: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  resolve(json: string): void;
  reject(error: Error): void;
}

/** A generation being loaded: its exports arrive through hostDone(0, ...). */
interface Loading {
  deadline: number;
  text: string | undefined;
  wake: (() => void) | undefined;
}

type StopReason = { limit: Limit; culprit?: InFlight } | { limit: 'host-timeout'; culprit: InFlight } | { limit: 'disposed' };

export class QuickJSSandbox implements Sandbox {
  readonly #spec: SandboxSpec;
  readonly #engineOptions: SandboxEngineOptions;
  readonly #stats: SandboxStats = { calls: 0, failures: 0, recreations: 0 };
  #exports: readonly string[] = [];
  /** The instance the next callSync() rebuild may reuse; undefined once it trapped. */
  #instance: WasmInstance | undefined;
  #gen: QuickJSGeneration | undefined;
  #building: Promise<void> | undefined;
  readonly #inflight = new Set<InFlight>();
  readonly #byId = new Map<number, InFlight>();
  #loading = new Map<QuickJSGeneration, Loading>();
  /** The call whose answer was a memory breach, seen inside an entry: the generation stops once it returned. */
  #breachedBy: InFlight | undefined;
  #closed: { message: string } | undefined;

  readonly #overrunMs: number;

  constructor(spec: SandboxSpec, engineOptions: SandboxEngineOptions, overrunMs: number) {
    this.#spec = spec;
    this.#engineOptions = engineOptions;
    this.#overrunMs = overrunMs;
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

  /** Set by the engine, which keeps track of the sandboxes still alive. */
  onDisposed: (() => void) | undefined;

  /** The first build: its failure is create()'s, and it is not a recreation. */
  async start(): Promise<void> {
    await this.#rebuild(false);
    this.#exports = Object.freeze([...this.#exportNames]);
  }

  call(exportName: string, argJson: string): Promise<string> {
    this.#stats.calls++;
    const gen = this.#gen;
    const running =
      this.#closed === undefined && gen !== undefined && this.#building === undefined
        ? this.#run(gen, exportName, argJson)
        : this.#liveAsync().then((ready) => this.#run(ready, exportName, argJson));
    return running.catch((e: unknown) => {
      this.#stats.failures++;
      throw e;
    });
  }

  callSync(exportName: string, argJson: string): string {
    this.#stats.calls++;
    try {
      const gen = this.#liveSync();
      const deadline = performance.now() + this.#spec.timeoutMs;
      let outcome = this.#watch(deadline, () => gen.dispatch(exportName, argJson, false, deadline));
      // Microtasks the call queued run before it returns, under the same deadline, as V8 drains them.
      if (outcome.ok) {
        const drained = this.#watch(deadline, () => gen.runJobs(deadline));
        if (!drained.ok) outcome = drained;
      }
      if (!outcome.ok) {
        if (outcome.limit === 'timeout' && !gen.instanceDead) throw this.#timeoutError(exportName);
        this.#stop(gen, { limit: outcome.limit });
        throw this.#limitError(outcome, exportName);
      }
      const answer = this.#decode(gen, String(outcome.value), exportName);
      // A native operation the interrupt cannot enter may finish past the deadline: the limit still holds.
      if (performance.now() > deadline) throw this.#timeoutError(exportName);
      return answer;
    } catch (e) {
      this.#stats.failures++;
      throw e;
    }
  }

  dispose(): void {
    if (this.#closed !== undefined) return;
    this.#closed = { message: `${this.name}: the sandbox was disposed` };
    this.#shutDown();
    this.onDisposed?.();
  }

  #shutDown(): void {
    if (this.#gen !== undefined) this.#stop(this.#gen, { limit: 'disposed' });
    for (const gen of this.#loading.keys()) gen.dispose();
    this.#loading.clear();
    this.#instance = undefined;
    this.#spare = undefined;
  }

  #run(gen: QuickJSGeneration, exportName: string, argJson: string): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const deadline = performance.now() + this.#spec.timeoutMs;
      const call: InFlight = { exportName, deadline, id: 0, timer: undefined, resolve, reject };
      this.#inflight.add(call);
      const outcome = this.#watch(deadline, () => gen.dispatch(exportName, argJson, true, this.#earliestDeadline(), this.#expire));
      if (!outcome.ok) {
        this.#stop(gen, { limit: outcome.limit, culprit: call });
        return;
      }
      if (typeof outcome.value === 'string') {
        this.#inflight.delete(call);
        this.#settle(gen, call, outcome.value);
        this.#afterEntry(gen);
        return;
      }
      if (!this.#inflight.has(call)) {
        this.#afterEntry(gen);
        return;
      }
      call.id = outcome.value;
      this.#byId.set(call.id, call);
      call.timer = setTimeout(() => this.#stop(gen, { limit: 'host-timeout', culprit: call }), Math.max(0, deadline - performance.now()));
      if (this.#afterEntry(gen)) this.#runJobs(gen);
    });
  }

  /** Run the generation's pending jobs under the earliest deadline in flight, then act on what happened. */
  #runJobs(gen: QuickJSGeneration): void {
    if (gen.disposed) return;
    const loading = this.#loading.get(gen);
    // Jobs with no call in flight (a capability a finished call did not await) get one time limit of their own.
    const deadline = loading?.deadline ?? (this.#inflight.size > 0 ? this.#earliestDeadline() : performance.now() + this.#spec.timeoutMs);
    const outcome = this.#watch(deadline, () => gen.runJobs(deadline, loading === undefined ? this.#expire : undefined));
    if (loading !== undefined) {
      if (!outcome.ok) loading.text = `${FAILURE_MARK}${JSON.stringify(['limit', outcome.limit, ''])}`;
      if (loading.text !== undefined) loading.wake?.();
      return;
    }
    if (!outcome.ok) this.#stop(gen, { limit: outcome.limit });
    else this.#afterEntry(gen);
  }

  /**
   * After an async entry returned: a call that breached the memory cap, or calls that ran out of time during it,
   * stop the generation (their state is still inside it). True when the generation is still live.
   */
  #afterEntry(gen: QuickJSGeneration): boolean {
    const culprit = this.#breachedBy;
    if (culprit !== undefined) this.#stop(gen, { limit: 'memory', culprit });
    else if (this.#expired) this.#stop(gen, { limit: 'timeout' });
    return gen === this.#gen;
  }

  /** Some call timed out during the current entry (see #expire). */
  #expired = false;

  /**
   * The interrupt handler's hand-off: calls past their deadline fail now with SandboxTimeoutError, and the entry
   * runs on to the next deadline in flight, so the call whose code loops is the one reported as timed out (as
   * isolated-vm's per-call timers do); with none left, the entry stops.
   */
  readonly #expire = (now: number): number => {
    let next = now;
    for (const call of [...this.#inflight]) {
      if (call.deadline > now) {
        next = next === now ? call.deadline : Math.min(next, call.deadline);
        continue;
      }
      this.#inflight.delete(call);
      this.#byId.delete(call.id);
      clearTimeout(call.timer);
      this.#expired = true;
      call.reject(this.#timeoutError(call.exportName));
    }
    return next;
  };

  #earliestDeadline(): number {
    let earliest = Number.POSITIVE_INFINITY;
    for (const call of this.#inflight) if (call.deadline < earliest) earliest = call.deadline;
    return earliest;
  }

  /** hostDone(id, text) from the guest, inside an entry: settle that call (stopping waits for the entry's end). */
  #complete(gen: QuickJSGeneration, id: number, text: string): void {
    const call = this.#byId.get(id);
    if (call === undefined || gen !== this.#gen) return;
    this.#byId.delete(id);
    this.#inflight.delete(call);
    clearTimeout(call.timer);
    if (performance.now() > call.deadline) {
      this.#expired = true;
      call.reject(this.#timeoutError(call.exportName));
      return;
    }
    this.#settle(gen, call, text);
  }

  #settle(gen: QuickJSGeneration, call: InFlight, text: string): void {
    try {
      call.resolve(this.#decode(gen, text, call.exportName, call));
    } catch (e) {
      call.reject(e as Error);
    }
  }

  /** The generation to run on: the live one, or one (re)built once for all the calls waiting. */
  async #liveAsync(): Promise<QuickJSGeneration> {
    for (;;) {
      this.#assertOpen();
      if (this.#gen !== undefined && this.#building === undefined) return this.#gen;
      this.#building ??= this.#rebuild(true).finally(() => {
        this.#building = undefined;
      });
      await this.#building;
    }
  }

  #liveSync(): QuickJSGeneration {
    this.#assertOpen();
    if (this.#spec.host.hasAsync) {
      throw new SandboxUsageError(`${this.name}: callSync() is not available on a sandbox with async capabilities; use call()`);
    }
    if (this.#building !== undefined || this.#inflight.size > 0) {
      throw new SandboxUsageError(`${this.name}: callSync() would block behind call()s in flight on this sandbox; use call()`);
    }
    if (this.#gen !== undefined) return this.#gen;
    const spare = this.#spare;
    this.#spare = undefined;
    if (spare !== undefined) this.#instance = spare;
    const instance = this.#instance;
    if (instance === undefined) {
      // The instance trapped: a fresh one can only be made asynchronously. This call fails; later ones find it.
      this.#building = this.#rebuild(true)
        .catch(() => undefined)
        .finally(() => {
          this.#building = undefined;
        });
      throw new SandboxAbortedError(`${this.name}: the sandbox is being rebuilt on a fresh instance; try again`);
    }
    const { gen, text } = this.#open(instance);
    if (text === undefined) {
      this.#loading.delete(gen);
      gen.dispose();
      throw new SandboxCompileError(`${this.name}: top-level await in ${this.#spec.filename} did not settle synchronously`);
    }
    this.#adopt(gen, this.#loaded(gen, text), true);
    if (spare === undefined) this.#prepareSpare();
    return gen;
  }

  #exportNames: string[] = [];
  /** A fresh instance for the next rebuild in callSync(), made in the background after one reused an instance. */
  #spare: WasmInstance | undefined;
  #spareComing = false;

  /**
   * callSync() rebuilt on the instance that breached (it cannot wait for a fresh one): that instance's memory
   * stays grown to its ceiling, which holds the memory and makes a plain `throw null` look like a breach (see
   * `neared`). The generation keeps running there (moving it would lose its state); the next rebuild moves to
   * this spare, and the worn instance goes.
   */
  #prepareSpare(): void {
    if (this.#spareComing) return;
    this.#spareComing = true;
    instantiate(this.#spec.memoryMb)
      .then((instance) => {
        if (this.#closed === undefined) this.#spare = instance;
      })
      .catch(() => undefined)
      .finally(() => {
        this.#spareComing = false;
      });
  }

  /** Build a generation on a fresh instance, waiting for top-level await within the time limit. */
  async #rebuild(isRebuild: boolean): Promise<void> {
    const instance = await instantiate(this.#spec.memoryMb);
    this.#assertOpen();
    this.#instance = instance;
    const { gen, text } = this.#open(instance);
    const names = this.#loaded(gen, text ?? (await this.#awaitLoad(gen)));
    this.#adopt(gen, names, isRebuild);
  }

  #adopt(gen: QuickJSGeneration, names: string[], isRebuild: boolean): void {
    this.#loading.delete(gen);
    if (this.#closed !== undefined) {
      gen.dispose();
      throw this.#closedError();
    }
    gen.cacheNames(names);
    this.#exportNames = names;
    this.#gen = gen;
    if (isRebuild) this.#stats.recreations++;
  }

  /** Bootstrap and start loading; `text` is the load's outcome when it finished without waiting for the host. */
  #open(instance: WasmInstance): { gen: QuickJSGeneration; text: string | undefined } {
    const spec = this.#spec;
    const loading: Loading = { deadline: performance.now() + spec.timeoutMs, text: undefined, wake: undefined };
    let gen: QuickJSGeneration | undefined;
    try {
      gen = new QuickJSGeneration(instance, spec, {
        done: (id, text) => {
          if (id === 0) loading.text ??= text;
          else if (gen !== undefined) this.#complete(gen, id, text);
        },
        settled: () => {
          if (gen !== undefined) this.#runJobs(gen);
        },
      });
      const opened = gen;
      this.#loading.set(opened, loading);
      // The bootstrap is ours, not the user's: it gets its own deadline, and the user's code the whole limit.
      const setupDeadline = performance.now() + Math.max(SETUP_MS, spec.timeoutMs);
      const booted = this.#watch(setupDeadline, () => opened.bootstrap(spec, spec.host, setupDeadline));
      if (!booted.ok) throw this.#compileLimit('setup failed', booted.limit);
      loading.deadline = performance.now() + spec.timeoutMs;
      const loaded = this.#watch(loading.deadline, () => opened.load(loading.deadline));
      if (!loaded.ok) throw opened.linkError ?? this.#compileLimit('top-level code failed', loaded.limit);
      return { gen: opened, text: loading.text };
    } catch (e) {
      if (gen !== undefined) {
        this.#loading.delete(gen);
        if (gen.instanceDead) this.#instance = undefined;
        gen.dispose();
      }
      if (e instanceof SandboxCompileError) throw e;
      throw new SandboxCompileError(`${spec.name}: setup failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  }

  /** Top-level await on a host capability finishes after load() returns; wait for it, within the time limit. */
  #awaitLoad(gen: QuickJSGeneration): Promise<string> {
    const loading = this.#loading.get(gen) as Loading;
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#loading.delete(gen);
        gen.dispose();
        reject(new SandboxCompileError(`${this.name}: top-level await in ${this.#spec.filename} did not settle within ${this.#spec.timeoutMs} ms`));
      }, Math.max(0, loading.deadline - performance.now()));
      loading.wake = () => {
        clearTimeout(timer);
        resolve(loading.text as string);
      };
    });
  }

  /** The load's outcome: the export names, or the SandboxCompileError it amounts to (the generation is freed). */
  #loaded(gen: QuickJSGeneration, text: string): string[] {
    const failure = failureOf(text);
    if (failure === undefined) return JSON.parse(text) as string[];
    this.#loading.delete(gen);
    gen.dispose();
    const [kind, message] = failure;
    if (kind === 'limit') throw gen.linkError ?? this.#compileLimit('top-level code failed', message as Limit);
    if (OUT_OF_MEMORY.test(message)) throw this.#compileLimit('top-level code failed', 'memory');
    throw gen.linkError ?? loadFailure(this.#spec, failure);
  }

  #compileLimit(prefix: string, limit: Limit): SandboxCompileError {
    const what = limit === 'memory' ? `exceeded the ${this.#spec.memoryMb} MiB memory cap` : `ran longer than ${this.#spec.timeoutMs} ms`;
    return new SandboxCompileError(`${this.name}: ${prefix}: ${what}`);
  }

  /**
   * Stop a generation: free it and fail every call in flight on it. The culprit of a limit gets the limit's
   * error; the others SandboxAbortedError, or SandboxMemoryError when a breach in pending jobs names no culprit.
   */
  #stop(gen: QuickJSGeneration, reason: StopReason): void {
    if (gen !== this.#gen) {
      gen.dispose();
      return;
    }
    this.#gen = undefined;
    this.#breachedBy = undefined;
    this.#expired = false;
    const now = performance.now();
    const victims = [...this.#inflight];
    this.#inflight.clear();
    this.#byId.clear();
    gen.dispose();
    // Freeing can be what shows the instance is broken (QuickJS asserting on objects an out-of-memory path leaked).
    if (gen.instanceDead && this.#instance === gen.instance) this.#instance = undefined;
    for (const call of victims) {
      clearTimeout(call.timer);
      call.reject(this.#victimError(call, reason, now));
    }
  }

  #victimError(call: InFlight, reason: StopReason, now: number): Error {
    if (reason.limit === 'disposed') return this.#closedError();
    const isCulprit = 'culprit' in reason && reason.culprit === call;
    if (reason.limit === 'host-timeout') return isCulprit ? this.#timeoutError(call.exportName) : this.#abortedError('timed out');
    // The interrupt fires at the earliest deadline in flight: whoever is past theirs timed out.
    if (reason.limit === 'timeout') return call.deadline <= now ? this.#timeoutError(call.exportName) : this.#abortedError('timed out');
    if (isCulprit || !('culprit' in reason) || reason.culprit === undefined) return this.#memoryError(call.exportName);
    return this.#abortedError('exceeded the memory cap');
  }

  /**
   * Run one entry and watch how long it held the thread: past its deadline by OVERRUN_MS, native work the
   * interrupt could not reach blocked the host, and the sandbox is quarantined (see the file comment).
   */
  #watch(deadline: number, enter: () => Outcome): Outcome {
    const outcome = enter();
    if (performance.now() - deadline > this.#overrunMs && this.#closed === undefined) {
      const late = Math.round(performance.now() - deadline);
      this.#closed = { message: `${this.name}: quarantined: it held the host's thread ${late} ms past its deadline` };
      queueMicrotask(() => {
        this.#shutDown();
        this.onDisposed?.();
        this.#engineOptions.onCatastrophicError?.(this.name, `QuickJS held the host's thread ${late} ms past its deadline`);
      });
    }
    return outcome;
  }

  #assertOpen(): void {
    if (this.#closed !== undefined) throw this.#closedError();
  }

  #closedError(): SandboxDisposedError {
    return new SandboxDisposedError(this.#closed?.message ?? `${this.name}: the sandbox was disposed`);
  }

  #timeoutError(exportName: string): SandboxTimeoutError {
    return new SandboxTimeoutError(`${this.name}: ${exportName}() did not finish within ${this.#spec.timeoutMs} ms`);
  }

  #memoryError(exportName: string): SandboxMemoryError {
    return new SandboxMemoryError(`${this.name}: ${exportName}() exceeded the ${this.#spec.memoryMb} MiB memory cap`);
  }

  #abortedError(what: string): SandboxAbortedError {
    return new SandboxAbortedError(`${this.name}: the call was stopped because another call on this sandbox ${what}`);
  }

  #limitError(outcome: Extract<Outcome, { ok: false }>, exportName: string): Error {
    return outcome.limit === 'timeout' ? this.#timeoutError(exportName) : this.#memoryError(exportName);
  }

  /**
   * The dispatcher's answer as the call's result, or its error. An "out of memory" failure is a breach: in
   * callSync the generation is stopped here; for an async call (`call`) once the entry returned (#afterBreach).
   */
  #decode(gen: QuickJSGeneration, text: string, exportName: string, call?: InFlight): string {
    const failure = failureOf(text);
    if (failure === undefined) {
      const max = this.#spec.maxResultBytes;
      if (overByteLimit(text, max)) throw new SandboxResultError(`${this.name}: ${exportName}(): the result is larger than ${max} bytes`);
      return text;
    }
    const [kind, message, stack] = failure;
    if (OUT_OF_MEMORY.test(message) || (message === 'threw null' && gen.neared)) {
      if (call === undefined) this.#stop(gen, { limit: 'memory' });
      else this.#breachedBy ??= call;
      throw this.#memoryError(exportName);
    }
    const description = `${this.name}: ${exportName}(): ${message}`;
    if (kind === 'result') throw new SandboxResultError(description);
    throw new SandboxScriptError(description, { sandboxStack: withoutEngineFrames(stack) });
  }
}
