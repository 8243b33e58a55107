/**
 * One QuickJS generation of a sandbox: a QuickJS runtime and context inside a WebAssembly instance, with the
 * limits set (QuickJS's malloc limit under the instance's hard memory ceiling, a stack limit, an interrupt
 * handler with a deadline), the bootstrap run, and the entry module loaded. It owns every handle it makes and
 * frees them in dispose(). QuickJS runs on the caller's thread: every entry into it (a call, the pending jobs,
 * the load) is synchronous and bounded by the deadline the caller gives, so nothing here needs a second thread.
 *
 * Entries answer an Outcome instead of throwing: the value the dispatcher returned, or the limit that stopped it.
 * An exception that escapes the dispatcher is never user code's (the dispatcher catches everything it throws):
 * it is the interrupt (time) or the dispatcher itself failing for lack of memory. A host-side exception from the
 * instance (a WebAssembly trap) kills the instance: `instanceDead` tells the sandbox to build on a fresh one.
 */
import type { QuickJSContext, QuickJSDeferredPromise, QuickJSHandle, QuickJSRuntime } from 'quickjs-emscripten-core';
import {
  BOOTSTRAP_FILE,
  BOOTSTRAP_SOURCE,
  ENTRY_SPECIFIER,
  FAILURE_MARK,
  READY_SPECIFIER,
  readyModuleSource,
  ROOT_MODULE,
  rootModuleSource,
} from './quickjs-bootstrap.js';
import { MAX_CAPABILITY_ARGS_CHARS } from './capability-host.js';
import type { WasmInstance } from './quickjs-wasm.js';
import { at, locateSpecifier, locationInStack } from './source-location.js';
import type { SandboxSpec } from './spec.js';
import { SandboxCompileError, type SourceLocation } from './types.js';

const MIB = 1024 * 1024;
/** Deep recursion ends as a RangeError inside the guest, far below the module's 5 MiB C stack. */
const MAX_STACK_BYTES = 256 * 1024;

export type Limit = 'timeout' | 'memory';
export type Outcome = { ok: true; value: string | number } | { ok: false; limit: Limit; detail: string };

export interface GenerationHooks {
  /** hostDone from the guest: the outcome of async call `id` (0: loading). */
  done(id: number, text: string): void;
  /** An async capability settled and its reply was handed in: the sandbox runs the pending jobs. */
  settled(): void;
}

/**
 * Called by the interrupt handler when an entry's deadline passed, with the time: the next deadline to run to
 * (the caller expired the calls that are past theirs), or one already past to stop the entry now.
 */
export type DeadlinePassed = (now: number) => number;

/**
 * quickjs-emscripten's newString encodes UTF-8 in a JavaScript loop: measured ≈ 17 µs for a 1.3 KB envelope,
 * against 0.2 µs for TextEncoder.encodeInto into the instance's memory. Every call carries its argument as a
 * string, so this uses the context's own parts (malloc, QTS_NewString, its handle wrapper) when they are there,
 * and newString when a future version hides them.
 */
interface ContextParts {
  module: { _malloc(bytes: number): number; _free(pointer: number): void; HEAPU8: Uint8Array };
  ffi: { QTS_NewString(context: number, chars: number): number };
  ctx: { value: number };
  memory: { heapValueHandle(pointer: number): QuickJSHandle };
}
const encoder = new TextEncoder();

function stringMaker(context: QuickJSContext): (text: string) => QuickJSHandle {
  const parts = context as unknown as Partial<ContextParts>;
  const { module, ffi, ctx, memory } = parts;
  const usable =
    typeof module?._malloc === 'function' && typeof module._free === 'function' && module.HEAPU8 instanceof Uint8Array &&
    typeof ffi?.QTS_NewString === 'function' && typeof ctx?.value === 'number' && typeof memory?.heapValueHandle === 'function';
  if (!usable) return (text) => context.newString(text);
  const { module: m, ffi: f, ctx: c, memory: mem } = parts as ContextParts;
  return (text) => {
    const room = text.length * 3 + 1;
    const chars = m._malloc(room);
    if (chars === 0) return context.newString(text);
    try {
      // HEAPU8 is read after malloc: growing the memory replaces it.
      const heap = m.HEAPU8;
      const { written } = encoder.encodeInto(text, heap.subarray(chars, chars + room - 1));
      heap[chars + written] = 0;
      return mem.heapValueHandle(f.QTS_NewString(c.value, chars));
    } finally {
      m._free(chars);
    }
  };
}

export class QuickJSGeneration {
  readonly #instance: WasmInstance;
  readonly #runtime: QuickJSRuntime;
  readonly #context: QuickJSContext;
  readonly #newString: (text: string) => QuickJSHandle;
  readonly #hooks: GenerationHooks;
  readonly #owned: QuickJSHandle[] = [];
  /** Async capability calls waiting for the host; freed with the generation if they never settle. */
  readonly #deferreds = new Set<QuickJSDeferredPromise>();
  /** Export names as guest strings, made once: calls by name need no new handle each time. */
  readonly #names = new Map<string, QuickJSHandle>();
  #dispatch: QuickJSHandle | undefined;
  #load: QuickJSHandle | undefined;
  #deadline = Number.POSITIVE_INFINITY;
  #onDeadline: DeadlinePassed | undefined;
  #interrupted = false;
  #disposed = false;
  /** Entries into QuickJS on the stack: a dispose() from inside one (a capability) waits until they return. */
  #depth = 0;
  #disposeWhenOut = false;
  /** A load failure the module normalizer saw (an import of something not given to the sandbox). */
  linkError: SandboxCompileError | undefined;
  instanceDead = false;

  constructor(instance: WasmInstance, spec: SandboxSpec, hooks: GenerationHooks) {
    this.#instance = instance;
    this.#hooks = hooks;
    const runtime = instance.quickjs.newRuntime();
    this.#runtime = runtime;
    try {
      // In this WebAssembly build QuickJS-ng cannot ask malloc for block sizes (malloc_usable_size is absent),
      // so its limit counts 8 bytes a block: set, but the instance's memory ceiling is what holds.
      runtime.setMemoryLimit(instance.maxBytes);
      runtime.setMaxStackSize(MAX_STACK_BYTES);
      runtime.setInterruptHandler(() => this.#shouldInterrupt());
      const modules = moduleTable(spec);
      runtime.setModuleLoader(
        (name) => modules.sources.get(name) ?? { error: new Error(`no module ${name}`) },
        (base, requested) => {
          const found = modules.resolve(base, requested);
          if (found !== undefined) return found;
          this.linkError ??= modules.linkError(base, requested);
          return { error: new Error(this.linkError.message) };
        },
      );
      this.#context = runtime.newContext();
      this.#newString = stringMaker(this.#context);
    } catch (e) {
      runtime.dispose();
      throw e;
    }
  }

  get instance(): WasmInstance {
    return this.#instance;
  }

  /** Past the deadline: hand over to the caller's next deadline, or stop. */
  #shouldInterrupt(): boolean {
    const now = performance.now();
    if (now <= this.#deadline) return false;
    const next = this.#onDeadline?.(now) ?? now;
    if (next > now) {
      this.#deadline = next;
      return false;
    }
    this.#interrupted = true;
    return true;
  }

  /**
   * Whether the instance's memory has grown to its ceiling (it never shrinks): QuickJS throws null when it cannot
   * even allocate its "out of memory" error, and that null is told from a plain `throw null` this way.
   */
  get neared(): boolean {
    const { memory, maxBytes } = this.#instance;
    return memory.buffer.byteLength >= maxBytes - Math.max(MIB, maxBytes / 8);
  }

  /** Run the bootstrap: the guest gets its host functions, and hands back its dispatcher and loader. */
  bootstrap(spec: SandboxSpec, host: SandboxSpec['host'], deadline: number): Outcome {
    const ctx = this.#context;
    const hostSync = this.#own(
      ctx.newFunction('hostSync', (index, args) => this.#newString(host.callSync(ctx.getNumber(index), ctx.getString(args)))),
    );
    const hostAsync = this.#own(ctx.newFunction('hostAsync', (index, args) => this.#callAsync(host, ctx.getNumber(index), ctx.getString(args))));
    const hostDone = this.#own(ctx.newFunction('hostDone', (id, text) => void this.#hooks.done(ctx.getNumber(id), ctx.getString(text))));
    const config = this.#own(
      ctx.newString(JSON.stringify({ capabilities: host.config, maxResultChars: spec.maxResultBytes, maxArgsChars: MAX_CAPABILITY_ARGS_CHARS })),
    );
    let api: QuickJSHandle | undefined;
    const outcome = this.#enter(deadline, () => {
      const made = ctx.evalCode(BOOTSTRAP_SOURCE, BOOTSTRAP_FILE, { type: 'global', strict: true });
      if (made.error) return made;
      const factory = made.value;
      try {
        return ctx.callFunction(factory, ctx.undefined, hostSync, hostAsync, hostDone, config);
      } finally {
        factory.dispose();
      }
    }, (value) => {
      api = value.dup();
      return 0;
    });
    if (api !== undefined) {
      this.#dispatch = this.#own(ctx.getProp(api, 'call'));
      this.#load = this.#own(ctx.getProp(api, 'load'));
      api.dispose();
    }
    return outcome;
  }

  /** Start loading the entry (its outcome arrives through hooks.done(0, ...)) and run what it queued. */
  load(deadline: number): Outcome {
    const ctx = this.#context;
    const load = this.#load as QuickJSHandle;
    const started = this.#enter(deadline, () => ctx.callFunction(load, ctx.undefined));
    return started.ok ? this.runJobs(deadline) : started;
  }

  /**
   * Call the dispatcher. Sync: the value is the answer text. Async: a number (the call id; the answer comes
   * through hooks.done once the pending jobs run) or the answer text when it failed at once.
   */
  dispatch(exportName: string, argJson: string, isAsync: boolean, deadline: number, onDeadline?: DeadlinePassed): Outcome {
    const ctx = this.#context;
    if (this.#depth === 0) this.#onDeadline = onDeadline;
    const dispatch = this.#dispatch as QuickJSHandle;
    const cached = this.#names.get(exportName);
    const name = cached ?? ctx.newString(exportName);
    try {
      return this.#enter(deadline, () => {
        const arg = this.#newString(argJson);
        try {
          return ctx.callFunction(dispatch, ctx.undefined, name, arg, isAsync ? ctx.true : ctx.false);
        } finally {
          arg.dispose();
        }
      });
    } finally {
      if (cached === undefined) name.dispose();
    }
  }

  /** Remember guest strings for the entry's export names (called once the exports are known). */
  cacheNames(names: readonly string[]): void {
    for (const name of names) if (!this.#names.has(name)) this.#names.set(name, this.#context.newString(name));
  }

  /** Run every pending job (promise reactions: async exports resuming, capability replies arriving). */
  runJobs(deadline: number, onDeadline?: DeadlinePassed): Outcome {
    if (!this.#disposed && !this.#runtime.hasPendingJob()) return { ok: true, value: 0 };
    if (this.#depth === 0) this.#onDeadline = onDeadline;
    return this.#enter(deadline, () => {
      const ran = this.#runtime.executePendingJobs();
      if (ran.error) return { error: ran.error };
      return { value: this.#context.undefined };
    });
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** Free everything; a trap while freeing means the instance cannot be trusted with another runtime. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    if (this.#depth > 0) {
      this.#disposeWhenOut = true;
      return;
    }
    this.#free();
  }

  #free(): void {
    try {
      for (const deferred of this.#deferreds) deferred.dispose();
      this.#deferreds.clear();
      for (const handle of this.#names.values()) handle.dispose();
      this.#names.clear();
      for (const handle of this.#owned) if (handle.alive) handle.dispose();
      this.#context.dispose();
      this.#runtime.dispose();
    } catch {
      this.instanceDead = true;
    }
  }

  #own(handle: QuickJSHandle): QuickJSHandle {
    this.#owned.push(handle);
    return handle;
  }

  #callAsync(host: SandboxSpec['host'], index: number, argsJson: string): QuickJSHandle {
    const deferred = this.#context.newPromise();
    this.#deferreds.add(deferred);
    void host.callAsync(index, argsJson).then((reply) => {
      if (this.#disposed || !this.#deferreds.delete(deferred)) return;
      try {
        const text = this.#newString(reply);
        deferred.resolve(text);
        text.dispose();
        deferred.dispose();
      } catch {
        // The instance failed under the reply (out of memory at the ceiling): the next entry finds out.
      }
      this.#hooks.settled();
    });
    return deferred.handle.dup();
  }

  /**
   * One entry into QuickJS under a deadline. `read` turns the value handle into the outcome's value (by default
   * the dispatcher's answer: a string or a number); the handle is freed afterwards either way.
   */
  #enter(
    deadline: number,
    run: () => { value: QuickJSHandle; error?: undefined } | { error: QuickJSHandle; value?: undefined },
    read: (value: QuickJSHandle) => string | number = (value) => this.#read(value),
  ): Outcome {
    if (this.#disposed) return { ok: false, limit: 'memory', detail: 'the generation was disposed' };
    const outer = this.#deadline;
    this.#deadline = Math.min(deadline, outer);
    if (this.#depth++ === 0) this.#interrupted = false;
    try {
      const result = run();
      if (result.error !== undefined) {
        result.error.dispose();
        return this.#interrupted ? { ok: false, limit: 'timeout', detail: 'interrupted' } : { ok: false, limit: 'memory', detail: 'out of memory' };
      }
      try {
        return { ok: true, value: read(result.value) };
      } finally {
        result.value.dispose();
      }
    } catch (e) {
      this.instanceDead = true;
      return { ok: false, limit: this.#interrupted ? 'timeout' : 'memory', detail: `the engine stopped: ${e instanceof Error ? e.message : String(e)}` };
    } finally {
      this.#deadline = outer;
      if (--this.#depth === 0) {
        this.#onDeadline = undefined;
        if (this.#disposeWhenOut) this.#free();
      }
    }
  }

  #read(value: QuickJSHandle): string | number {
    const ctx = this.#context;
    const type = ctx.typeof(value);
    if (type === 'string') return ctx.getString(value);
    if (type === 'number') return ctx.getNumber(value);
    return 'null';
  }
}

/** Decode a FAILURE_MARK answer; undefined when the text is a result. */
export function failureOf(text: string): [kind: string, message: string, stack: string] | undefined {
  if (text[0] !== FAILURE_MARK) return undefined;
  return JSON.parse(text.slice(1)) as [string, string, string];
}

/**
 * The modules a generation may load, by the name QuickJS knows them by (the name is the file in stack traces):
 * the entry under its filename, each given module under its specifier, and the internal root and ready hook.
 * Only the bootstrap may import the root and only the root the entry and the ready hook, so user code can
 * reach neither (a module holding `ready` could hand in a fake namespace).
 */
function moduleTable(spec: SandboxSpec) {
  const userModules = new Map(Object.entries(spec.modules));
  const internal = new Set([ROOT_MODULE, READY_SPECIFIER, ENTRY_SPECIFIER, BOOTSTRAP_FILE]);
  let entryName = spec.filename;
  while (userModules.has(entryName) || internal.has(entryName)) entryName += '#entry';
  const sources = new Map<string, string>([
    [ROOT_MODULE, rootModuleSource()],
    [READY_SPECIFIER, readyModuleSource()],
    [entryName, spec.source],
  ]);
  for (const [specifier, source] of userModules) if (!internal.has(specifier)) sources.set(specifier, source);
  const referrer = (base: string): { filename: string; source: string } =>
    base === entryName ? { filename: spec.filename, source: spec.source } : { filename: base, source: userModules.get(base) ?? '' };
  return {
    sources,
    resolve(base: string, requested: string): string | undefined {
      if (base === BOOTSTRAP_FILE) return requested === ROOT_MODULE ? ROOT_MODULE : undefined;
      if (base === ROOT_MODULE) return requested === READY_SPECIFIER ? READY_SPECIFIER : requested === ENTRY_SPECIFIER ? entryName : undefined;
      return userModules.has(requested) && !internal.has(requested) ? requested : undefined;
    },
    linkError(base: string, requested: string): SandboxCompileError {
      const from = referrer(base);
      const location = locateSpecifier(from, requested);
      const known = [...userModules.keys()].map((k) => `"${k}"`).join(', ') || 'none';
      return new SandboxCompileError(
        `${spec.name}: cannot import "${requested}" from ${from.filename}${at(location)}; ` +
          `only the modules given to the sandbox can be imported (${known})`,
        { location },
      );
    },
    /** Where a load failure points, from its guest stack: the entry's frames name the entry's filename. */
    locate(stack: string): SourceLocation | undefined {
      const found = locationInStack(stack, new Set([entryName, ...userModules.keys()]));
      return found && found.file === entryName ? { ...found, file: spec.filename } : found;
    },
  };
}

/** The load failure as a SandboxCompileError: a syntax error or a throw in top-level code, with its place. */
export function loadFailure(spec: SandboxSpec, failure: [string, string, string]): SandboxCompileError {
  const [, message, stack] = failure;
  const location = moduleTable(spec).locate(stack);
  const prefix = /^SyntaxError\b/.test(message) ? 'syntax error' : 'top-level code failed';
  return new SandboxCompileError(`${spec.name}: ${prefix}: ${message}${at(location)}`, { location });
}
