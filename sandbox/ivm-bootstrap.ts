/**
 * What runs inside every isolate before user code, and its host-side counterpart. The bootstrap captures the
 * intrinsics it relies on (so user code that replaces JSON.stringify or Promise.prototype.then only fools itself),
 * builds the frozen `routr` global of capability functions, and returns the dispatcher the host calls. The two
 * host handles it receives (a sync Callback and an async Reference) stay in its closure: nothing reachable from
 * user code leads back to the host. Everything crosses as JSON text, so arguments and results are always copies.
 *
 * Wire format of a capability reply (host → sandbox): `u` (undefined), `v<json>` (value) or `e<message>` (throw).
 * The dispatcher answers the host with the result's JSON text, or `[kind, message, stack]` when the call failed.
 */
import { CAPTURES, dispatcherSource, READY_GLOBAL, RESULTS, ROUTR_GLOBAL } from './guest-source.js';

export { ENTRY_SPECIFIER, READY_SPECIFIER, readyModuleSource, rootModuleSource } from './guest-source.js';

/** Failure kinds the dispatcher reports; the host maps them onto error classes. */
export const FAILURE_SCRIPT = 'script';
export const FAILURE_RESULT = 'result';
export type FailureKind = typeof FAILURE_SCRIPT | typeof FAILURE_RESULT;
export type DispatchFailure = [kind: FailureKind, message: string, stack: string];

/**
 * Run with evalClosure: $0 = sync host Callback, $1 = async host Reference, $2 = BootstrapConfig as JSON.
 * Returns { call, exportsNow, whenReady } for the host to hold by Reference.
 */
export const BOOTSTRAP_SOURCE = String.raw`'use strict';
const hostSync = $0, hostAsync = $1, config = JSON.parse($2);
${CAPTURES}
const refApply = hostAsync.apply;
const asyncOptions = freeze({ __proto__: null, result: freeze({ __proto__: null, promise: true }) });

// The native fill sizes a sparse array's backing store in one allocation; past the cap that is a V8 fatal OOM,
// which isolated-vm can only report as catastrophic, with the isolate's thread lost (isolated-vm #107, #186).
// A plain loop grows the array step by step, so the heap limit stops it cleanly.
const nativeFill = Array.prototype.fill;
const toInteger = (v) => { const n = Math.trunc(+v); return n === n ? n : 0; };
const relative = (v, len, dflt) => { if (v === undefined) return dflt; const n = toInteger(v); return n < 0 ? Math.max(len + n, 0) : Math.min(n, len); };
defineProperty(Array.prototype, 'fill', { writable: true, enumerable: false, configurable: true, value: {
  fill(value, start, end) {
    if (this === null || this === undefined) throw new TypeError('Array.prototype.fill called on null or undefined');
    const o = Object(this);
    const len = Math.min(Math.max(toInteger(o.length), 0), Number.MAX_SAFE_INTEGER);
    if (len <= 65536) return apply(nativeFill, o, [value, start, end]);
    const last = relative(end, len, len);
    for (let k = relative(start, len, 0); k < last; k++) o[k] = value;
    return o;
  },
}.fill });
delete globalThis.console;

function capability(index, name, isAsync) {
  const fn = isAsync
    ? { async [name](...args) { return decode(await apply(refApply, hostAsync, [undefined, [index, stringify(args)], asyncOptions])); } }
    : { [name](...args) { return decode(hostSync(index, stringify(args))); } };
  return fn[name];
}
${ROUTR_GLOBAL}
let ns = null, signalReady;
const ready = new PromiseCtor((resolve) => { signalReady = resolve; });
defineProperty(globalThis, '${READY_GLOBAL}', { value: (namespace) => { if (ns === null) { ns = namespace; signalReady(); } }, configurable: true });

const encodeFailure = (kind, message, stack) => [kind, message, stack];
${RESULTS}
${dispatcherSource('return apply(promiseThen, apply(promiseResolve, PromiseCtor, [out]), [finish, rejected]);')}
return {
  call,
  exportsNow: () => (ns === null ? null : keys(ns)),
  whenReady: () => apply(promiseThen, ready, [() => keys(ns)]),
};
`;
