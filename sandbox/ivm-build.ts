/**
 * Builds one isolate generation for a sandbox: isolate, context, bootstrap, the entry module and its imports,
 * evaluation, and the dispatcher reference. `create()` and the rebuild inside `call()` run it asynchronously (the
 * work happens off the event loop); the rebuild inside `callSync()` must run it synchronously. So the build is
 * written once, as a generator of steps that each know both ways to run, and two small drivers run it.
 * Every failure becomes a SandboxCompileError naming file, line and column where the engine can tell.
 */
import type IVM from 'isolated-vm';
import {
  BOOTSTRAP_SOURCE,
  ENTRY_SPECIFIER,
  READY_SPECIFIER,
  readyModuleSource,
  rootModuleSource,
  type DispatchFailure,
} from './ivm-bootstrap.js';
import { at, locateSpecifier, locationInStack } from './source-location.js';
import type { SandboxSpec } from './spec.js';
import { SandboxCompileError, type SourceLocation } from './types.js';

export type Ivm = typeof IVM;
export type DispatchResult = string | DispatchFailure;
type Dispatcher = (name: string, argJson: string, isAsync: boolean) => DispatchResult | Promise<DispatchResult>;

export interface BuildSpec extends SandboxSpec {
  ivm: Ivm;
  onCatastrophicError: (message: string) => void;
}

export interface Generation {
  isolate: IVM.Isolate;
  dispatch: IVM.Reference<Dispatcher>;
  exports: string[];
}

interface Step<T> {
  sync: () => T;
  async: () => Promise<T>;
}
type Plan<R> = Generator<Step<unknown>, R, unknown>;

function* step<T>(s: Step<T>): Generator<Step<unknown>, T, unknown> {
  return (yield s as Step<unknown>) as T;
}

export function runSync<R>(plan: Plan<R>): R {
  let next = plan.next();
  while (!next.done) {
    let value: unknown;
    try {
      value = next.value.sync();
    } catch (e) {
      next = plan.throw(e);
      continue;
    }
    next = plan.next(value);
  }
  return next.value;
}

export async function runAsync<R>(plan: Plan<R>): Promise<R> {
  let next = plan.next();
  while (!next.done) {
    let value: unknown;
    try {
      value = await next.value.async();
    } catch (e) {
      next = plan.throw(e);
      continue;
    }
    next = plan.next(value);
  }
  return next.value;
}

export function* buildGeneration(spec: BuildSpec): Plan<Generation> {
  const { ivm, timeoutMs } = spec;
  const isolate = new ivm.Isolate({ memoryLimit: spec.memoryMb, onCatastrophicError: spec.onCatastrophicError });
  try {
    const context = yield* step({ sync: () => isolate.createContextSync(), async: () => isolate.createContext() });
    const config = JSON.stringify({ capabilities: spec.host.config, maxResultChars: spec.maxResultBytes });
    const bootstrapArgs = [new ivm.Callback(spec.host.callSync), new ivm.Reference(spec.host.callAsync), config];
    const bootstrapOptions = { result: { reference: true }, timeout: timeoutMs, filename: 'routr:bootstrap' } as const;
    const api = yield* step({
      sync: () => context.evalClosureSync(BOOTSTRAP_SOURCE, bootstrapArgs, bootstrapOptions),
      async: () => context.evalClosure(BOOTSTRAP_SOURCE, bootstrapArgs, bootstrapOptions),
    });

    const infos = new Map<IVM.Module, { filename: string; source: string }>();
    const compile = function* (source: string, filename: string): Plan<IVM.Module> {
      try {
        const module = yield* step({
          sync: () => isolate.compileModuleSync(source, { filename }),
          async: () => isolate.compileModule(source, { filename }),
        });
        infos.set(module, { filename, source });
        return module;
      } catch (e) {
        throw compileFailure(spec, e, { filename, prefix: 'syntax error' });
      }
    };
    const entry = yield* compile(spec.source, spec.filename);
    const imports = new Map<string, IVM.Module>();
    for (const [specifier, source] of Object.entries(spec.modules)) imports.set(specifier, yield* compile(source, specifier));
    const ready = yield* compile(readyModuleSource(), 'routr:ready');
    const root = yield* compile(rootModuleSource(), 'routr:root');

    // Only the root may import the internal modules: a user module holding `ready` could hand in a fake namespace.
    let linkError: SandboxCompileError | undefined;
    const resolve = (specifier: string, referrer: IVM.Module): IVM.Module => {
      const found = referrer === root ? { [READY_SPECIFIER]: ready, [ENTRY_SPECIFIER]: entry }[specifier] : imports.get(specifier);
      if (found !== undefined) return found;
      const from = infos.get(referrer) ?? { filename: spec.filename, source: '' };
      const known = [...imports.keys()].map((k) => `"${k}"`).join(', ') || 'none';
      linkError = new SandboxCompileError(
        `${spec.name}: cannot import "${specifier}" from ${from.filename}${at(locateSpecifier(from, specifier))}; ` +
          `only the modules given to the sandbox can be imported (${known})`,
        { location: locateSpecifier(from, specifier) },
      );
      throw linkError;
    };
    try {
      yield* step({
        sync: () => root.instantiateSync(context, resolve),
        async: () => root.instantiate(context, resolve),
      });
    } catch (e) {
      throw linkError ?? compileFailure(spec, e, { prefix: 'cannot link modules' });
    }

    const evaluateOptions = { timeout: timeoutMs };
    try {
      yield* step({ sync: () => root.evaluateSync(evaluateOptions), async: () => root.evaluate(evaluateOptions) });
    } catch (e) {
      throw compileFailure(spec, e, { prefix: 'top-level code failed', infos });
    }

    const exportsNow = api.getSync('exportsNow', { reference: true }) as IVM.Reference<() => string[] | null>;
    const whenReady = api.getSync('whenReady', { reference: true }) as IVM.Reference<() => Promise<string[]>>;
    const exports = yield* step({
      sync: () => {
        const names = exportsNow.applySync(undefined, [], { result: { copy: true }, timeout: timeoutMs });
        if (names === null) throw new SandboxCompileError(topLevelAwaitMessage(spec, 'did not settle synchronously'));
        return names;
      },
      async: () => awaitReady(spec, isolate, whenReady),
    });
    const dispatch = api.getSync('call', { reference: true }) as IVM.Reference<Dispatcher>;
    api.release();
    return { isolate, dispatch, exports };
  } catch (e) {
    if (!isolate.isDisposed) isolate.dispose();
    throw e instanceof SandboxCompileError ? e : compileFailure(spec, e, { prefix: 'setup failed' });
  }
}

/** Top-level await on a host capability finishes after evaluate() returns; wait for it, within the time limit. */
function awaitReady(spec: BuildSpec, isolate: IVM.Isolate, whenReady: IVM.Reference<() => Promise<string[]>>): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new SandboxCompileError(topLevelAwaitMessage(spec, `did not settle within ${spec.timeoutMs} ms`)));
      if (!isolate.isDisposed) isolate.dispose();
    }, spec.timeoutMs);
    whenReady
      .apply(undefined, [], { result: { promise: true, copy: true }, timeout: spec.timeoutMs })
      .then(resolve, reject)
      .finally(() => clearTimeout(timer));
  });
}

function topLevelAwaitMessage(spec: BuildSpec, what: string): string {
  return `${spec.name}: top-level await in ${spec.filename} ${what}`;
}

interface FailureContext {
  prefix: string;
  filename?: string;
  infos?: Map<IVM.Module, { filename: string; source: string }>;
}

/**
 * isolated-vm reports its limits as plain Errors with fixed messages. Match them exactly: a user's own
 * `throw new Error('request timed out')` in top-level code is a script failure, not a time limit.
 */
export function limitHit(e: unknown): 'timeout' | 'memory' | undefined {
  const message = e instanceof Error ? e.message : undefined;
  if (message === 'Script execution timed out.') return 'timeout';
  if (message === 'Isolate was disposed during execution due to memory limit') return 'memory';
  return undefined;
}

function compileFailure(spec: BuildSpec, e: unknown, context: FailureContext): SandboxCompileError {
  const message = e instanceof Error ? e.message : String(e);
  const limit = limitHit(e);
  if (limit === 'memory') {
    return new SandboxCompileError(`${spec.name}: ${context.prefix}: exceeded the ${spec.memoryMb} MiB memory cap`, { cause: e });
  }
  if (limit === 'timeout') {
    return new SandboxCompileError(`${spec.name}: ${context.prefix}: ran longer than ${spec.timeoutMs} ms`, { cause: e });
  }
  // V8 puts the position of a syntax error at the end of the message: "Unexpected token ';' [file.js:2:9]".
  const bracketed = /^(.*) \[(.+):(\d+):(\d+)\]$/s.exec(message);
  let location: SourceLocation | undefined;
  let text = message;
  if (bracketed) {
    text = bracketed[1] ?? message;
    location = { file: bracketed[2] ?? '', line: Number(bracketed[3]), column: Number(bracketed[4]) };
  } else if (e instanceof Error && typeof e.stack === 'string') {
    const files = new Set([spec.filename, ...Object.keys(spec.modules)]);
    location = locationInStack(e.stack, files);
  }
  const name = e instanceof Error && e.name !== 'Error' ? `${e.name}: ` : '';
  return new SandboxCompileError(`${spec.name}: ${context.prefix}: ${name}${text}${at(location)}`, { cause: e, location });
}
