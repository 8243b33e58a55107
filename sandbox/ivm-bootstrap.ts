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
import type { Capability, JsonValue } from './types.js';

/** Failure kinds the dispatcher reports; the host maps them onto error classes. */
export const FAILURE_SCRIPT = 'script';
export const FAILURE_RESULT = 'result';
export type FailureKind = typeof FAILURE_SCRIPT | typeof FAILURE_RESULT;
export type DispatchFailure = [kind: FailureKind, message: string, stack: string];

/** Specifiers only the synthetic root module may import (see rootModuleSource). */
export const READY_SPECIFIER = 'routr:internal/ready';
export const ENTRY_SPECIFIER = 'routr:internal/entry';
const READY_GLOBAL = '__routrReady';

export interface BootstrapConfig {
  /** [dotted path, async] per capability, in the order of the host's table. */
  capabilities: Array<[string, boolean]>;
  maxResultChars: number;
}

/**
 * The root module imports the ready hook first, so that tiny module runs (and deletes the temporary global)
 * before any user code; its own body runs only once the entry finished evaluating, top-level await included.
 */
export function rootModuleSource(): string {
  return `import { ready } from '${READY_SPECIFIER}';\nimport * as ns from '${ENTRY_SPECIFIER}';\nready(ns);\n`;
}

export function readyModuleSource(): string {
  return `const ready = globalThis.${READY_GLOBAL};\ndelete globalThis.${READY_GLOBAL};\nexport { ready };\n`;
}

/**
 * Run with evalClosure: $0 = sync host Callback, $1 = async host Reference, $2 = BootstrapConfig as JSON.
 * Returns { call, exportsNow, whenReady } for the host to hold by Reference.
 */
export const BOOTSTRAP_SOURCE = String.raw`'use strict';
const hostSync = $0, hostAsync = $1, config = JSON.parse($2);
const { apply, defineProperty } = Reflect;
const { freeze, keys, hasOwn } = Object;
const parse = JSON.parse, stringify = JSON.stringify, isArray = Array.isArray;
const ErrorCtor = Error, StringCtor = String, PromiseCtor = Promise;
const promiseThen = Promise.prototype.then, promiseResolve = Promise.resolve;
const strSlice = String.prototype.slice, objectToString = Object.prototype.toString;
const refApply = hostAsync.apply;
const asyncOptions = freeze({ __proto__: null, result: freeze({ __proto__: null, promise: true }) });
const MAX = config.maxResultChars;
const clip = (s, n) => (s.length > n ? apply(strSlice, s, [0, n]) + '…' : s);

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

function decode(reply) {
  const tag = reply[0], body = apply(strSlice, reply, [1]);
  if (tag === 'v') return parse(body);
  if (tag === 'e') throw new ErrorCtor(body);
  return undefined;
}
function capability(index, name, isAsync) {
  const fn = isAsync
    ? { async [name](...args) { return decode(await apply(refApply, hostAsync, [undefined, [index, stringify(args)], asyncOptions])); } }
    : { [name](...args) { return decode(hostSync(index, stringify(args))); } };
  return fn[name];
}
const routr = {};
config.capabilities.forEach(([path, isAsync], index) => {
  const parts = path.split('.');
  let node = routr;
  for (let i = 0; i < parts.length - 1; i++) {
    if (!hasOwn(node, parts[i])) defineProperty(node, parts[i], { value: {}, enumerable: true });
    node = node[parts[i]];
  }
  const leaf = parts[parts.length - 1];
  defineProperty(node, leaf, { value: capability(index, leaf, isAsync), enumerable: true });
});
const deepFreeze = (o) => { for (const k of keys(o)) deepFreeze(o[k]); return freeze(o); };
defineProperty(globalThis, 'routr', { value: deepFreeze(routr), writable: false, enumerable: false, configurable: false });

let ns = null, signalReady;
const ready = new PromiseCtor((resolve) => { signalReady = resolve; });
defineProperty(globalThis, '${READY_GLOBAL}', { value: (namespace) => { if (ns === null) { ns = namespace; signalReady(); } }, configurable: true });

function describe(e) {
  try {
    if (e instanceof ErrorCtor) { const name = StringCtor(e.name), message = StringCtor(e.message); return message ? name + ': ' + message : name; }
    switch (typeof e) {
      case 'string': return 'threw a string: ' + e;
      case 'undefined': return 'threw undefined';
      case 'number': case 'boolean': case 'bigint': case 'symbol': return 'threw a ' + typeof e + ': ' + StringCtor(e);
      case 'function': return 'threw a function: ' + StringCtor(e.name || '(anonymous)');
    }
    if (e === null) return 'threw null';
    let text;
    try { text = stringify(e); } catch { text = undefined; }
    return 'threw an object: ' + (typeof text === 'string' ? text : apply(objectToString, e, []));
  } catch {
    return 'threw a value that could not be described';
  }
}
function stackOf(e) {
  try { if (e instanceof ErrorCtor) { const s = e.stack; if (typeof s === 'string') return clip(s, 4000); } } catch {}
  return '';
}
const failure = (kind, e) => [kind, clip(describe(e), 2000), stackOf(e)];
const fail = (kind, message) => [kind, message, ''];

const TOO_BIG = freeze({});
let budget = 0;
// Counts a lower bound of the output as JSON.stringify walks (after toJSON), so a huge string is refused before
// it is flattened and copied; a 500 MB rope would otherwise be materialised twice inside the isolate.
function guard(key, value) {
  budget -= isArray(this) ? 1 : key.length + 1;
  const t = typeof value;
  if (t === 'string') budget -= value.length;
  else if (t === 'function' || t === 'symbol') throw new TypeError('a ' + t + ' (key "' + clip(key, 100) + '") cannot be carried by JSON');
  if (budget < 0) throw TOO_BIG;
  return value;
}
function finish(value) {
  if (value === undefined) return 'null';
  const t = typeof value;
  if (t === 'function' || t === 'symbol' || t === 'bigint') return fail('result', 'the result is a ' + t + ', which JSON cannot carry');
  budget = MAX;
  let json;
  try { json = stringify(value, guard); }
  catch (e) { return e === TOO_BIG ? fail('result', 'the result is larger than ' + MAX + ' bytes') : failure('result', e); }
  if (json === undefined) return 'null';
  if (json.length > MAX) return fail('result', 'the result is larger than ' + MAX + ' bytes');
  return json;
}
const rejected = (e) => failure('script', e);
const isThenable = (v) => v !== null && (typeof v === 'object' || typeof v === 'function') && typeof v.then === 'function';

function call(name, argJson, isAsync) {
  let out;
  try {
    const fn = ns === null ? undefined : ns[name];
    if (typeof fn !== 'function') return fail('script', '"' + clip(name, 200) + '" is not an exported function');
    out = apply(fn, undefined, [parse(argJson)]);
    if (isAsync) return apply(promiseThen, apply(promiseResolve, PromiseCtor, [out]), [finish, rejected]);
    if (isThenable(out)) return fail('result', 'the export returned a Promise; use call() for async exports');
  } catch (e) {
    return failure('script', e);
  }
  return finish(out);
}
return {
  call,
  exportsNow: () => (ns === null ? null : keys(ns)),
  whenReady: () => apply(promiseThen, ready, [() => keys(ns)]),
};
`;

/** Host side: turns the capability table into the two functions the bootstrap closes over. */
export function capabilityHost(capabilities: Record<string, Capability>): {
  config: BootstrapConfig['capabilities'];
  hasAsync: boolean;
  callSync: (index: number, argsJson: string) => string;
  callAsync: (index: number, argsJson: string) => Promise<string>;
} {
  const table = Object.entries(capabilities);
  checkPaths(table.map(([path]) => path));
  const invoke = (index: number, argsJson: string): unknown => {
    const entry = table[index];
    if (entry === undefined) throw new Error(`no capability #${index}`);
    return entry[1].fn(...(JSON.parse(argsJson) as JsonValue[]));
  };
  return {
    config: table.map(([path, cap]) => [path, cap.async === true]),
    hasAsync: table.some(([, cap]) => cap.async === true),
    callSync(index, argsJson) {
      try {
        const out = invoke(index, argsJson);
        if (out instanceof Promise) {
          out.catch(() => undefined);
          return 'e' + `routr.${table[index]?.[0]} returned a Promise but is not declared async`;
        }
        return encodeReply(out);
      } catch (e) {
        return 'e' + messageOf(e);
      }
    },
    // Never rejects: a rejected host promise handed to isolated-vm is reported as unhandled by Node before
    // isolated-vm attaches its handler, and its Error would carry the host stack into the sandbox.
    callAsync(index, argsJson) {
      return Promise.resolve()
        .then(() => invoke(index, argsJson))
        .then(encodeReply, (e: unknown) => 'e' + messageOf(e))
        .catch((e: unknown) => 'e' + messageOf(e));
    },
  };
}

function encodeReply(value: unknown): string {
  const json = value === undefined ? undefined : JSON.stringify(value);
  return json === undefined ? 'u' : 'v' + json;
}

function messageOf(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.length > 2000 ? text.slice(0, 2000) + '…' : text;
}

const SEGMENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** Paths become nested properties, so one may not be both a function and a namespace, nor touch __proto__. */
function checkPaths(paths: string[]): void {
  const leaves = new Set(paths);
  for (const path of paths) {
    const parts = path.split('.');
    if (!parts.every((p) => SEGMENT.test(p) && p !== '__proto__')) {
      throw new TypeError(`capability path "${path}" must be dot-separated identifiers`);
    }
    for (let i = 1; i < parts.length; i++) {
      const prefix = parts.slice(0, i).join('.');
      if (leaves.has(prefix)) throw new TypeError(`capability "${prefix}" cannot also be a namespace for "${path}"`);
    }
  }
}
