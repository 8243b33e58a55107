/**
 * What runs inside every QuickJS context before user code. It is a function expression the host calls once
 * with its three host functions and the config, so the host functions live only in the bootstrap's closure:
 * nothing reachable from user code leads back to the host. The shared guest pieces (captured intrinsics, the
 * frozen `routr` global, result and failure encoding) come from guest-source.ts, as for isolated-vm.
 *
 * Host functions: `hostSync(index, argsJson)` answers in the capability wire format at once; `hostAsync(index,
 * argsJson)` returns a QuickJS promise the host settles with such a reply later; `hostDone(id, text)` receives
 * the outcome of async call `id` — and of loading (id 0), as the export names' JSON or a failure.
 *
 * Answers: JSON text for a result, or FAILURE_MARK followed by the JSON of `[kind, message, stack]` (JSON text
 * never starts with `!`). An async call() returns its id (a number) and answers through hostDone.
 */
import { CAPTURES, dispatcherSource, ENTRY_SPECIFIER, READY_GLOBAL, READY_SPECIFIER, RESULTS, ROUTR_GLOBAL } from './guest-source.js';

/** QuickJS strings cross as C strings (a NUL would cut them), so the mark is a printable character. */
export const FAILURE_MARK = '!';
export const BOOTSTRAP_FILE = 'routr:bootstrap';
/** The root module: only the bootstrap may import it, and only it may import the ready hook and the entry. */
export const ROOT_MODULE = 'routr:root';
export { ENTRY_SPECIFIER, READY_SPECIFIER };
export { readyModuleSource, rootModuleSource } from './guest-source.js';

export const BOOTSTRAP_SOURCE = String.raw`(function (hostSync, hostAsync, hostDone, configJson) {
'use strict';
const config = JSON.parse(configJson);
${CAPTURES}
// QuickJS-ng globals a V8 context does not have (a microtask hook and a clock): the sandbox offers neither.
delete globalThis.queueMicrotask;
delete globalThis.performance;

// Arguments past the host's limit are refused while they are serialised, not after: QuickJS serialises
// ≈ 30 MB/s, so building megabytes of JSON only for the host to refuse them would spend the call's time limit.
const ARGS_MAX = config.maxArgsChars, ARGS_TOO_BIG = freeze({});
let argsBudget = 0;
function argsGuard(key, value) {
  argsBudget -= key.length + 1;
  if (typeof value === 'string') argsBudget -= value.length;
  if (argsBudget < 0) throw ARGS_TOO_BIG;
  return value;
}
function encodeArgs(path, args) {
  argsBudget = ARGS_MAX;
  try { return stringify(args, argsGuard); }
  catch (e) { if (e === ARGS_TOO_BIG) throw new ErrorCtor('routr.' + path + ': arguments larger than ' + ARGS_MAX + ' characters as JSON are refused'); throw e; }
}
const paths = config.capabilities.map(([path]) => path);
function capability(index, name, isAsync) {
  const path = paths[index];
  const fn = isAsync
    ? { async [name](...args) { return decode(await hostAsync(index, encodeArgs(path, args))); } }
    : { [name](...args) { return decode(hostSync(index, encodeArgs(path, args))); } };
  return fn[name];
}
${ROUTR_GLOBAL}
let ns = null;
defineProperty(globalThis, '${READY_GLOBAL}', { value: (namespace) => { if (ns === null) { ns = namespace; hostDone(0, stringify(keys(ns))); } }, configurable: true });

const encodeFailure = (kind, message, stack) => '${FAILURE_MARK}' + stringify([kind, message, stack]);
${RESULTS}
let lastId = 0;
${dispatcherSource(`const id = ++lastId;
      apply(promiseThen, apply(promiseResolve, PromiseCtor, [out]), [(v) => hostDone(id, finish(v)), (e) => hostDone(id, rejected(e))]);
      return id;`)}
function load() {
  apply(promiseThen, import('${ROOT_MODULE}'), [undefined, (e) => hostDone(0, failure('script', e))]);
}
return { call, load };
})`;
