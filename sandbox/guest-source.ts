/**
 * Pieces of guest JavaScript that every engine's bootstrap runs before user code, as source text. Each engine
 * wraps them with its own way of reaching the host; what they share is the part the contract suites judge: the
 * intrinsics captured before user code can replace them, the frozen `routr` global, how thrown values are
 * described, and how results are turned into bounded JSON text.
 *
 * The chunks are concatenated into one function body, in this order, and expect:
 * - CAPTURES: nothing; it defines the captured intrinsics (`apply`, `parse`, `stringify`, ...) and `clip`.
 * - ROUTR_GLOBAL: `config` ({capabilities, maxResultChars}) and `capability(index, name, isAsync)`, which returns
 *   the guest function for one host capability.
 * - RESULTS: `encodeFailure(kind, message, stack)`, the engine's form of a failed call; it defines `failure`,
 *   `fail`, `finish` (a result to JSON text within maxResultChars), `rejected` and `isThenable`.
 * - dispatcherSource(asyncBranch): `ns` (the entry's namespace, null until loaded); it defines
 *   `call(name, argJson, isAsync)`, whose async branch (given `out`, what the export returned) is the engine's.
 */

/** Specifiers only the synthetic root module may import (see rootModuleSource). */
export const READY_SPECIFIER = 'routr:internal/ready';
export const ENTRY_SPECIFIER = 'routr:internal/entry';
export const READY_GLOBAL = '__routrReady';

export interface BootstrapConfig {
  /** [dotted path, async, cache group] per capability, in the order of the host's table (capability-host.ts). */
  capabilities: Array<[string, boolean, number]>;
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

export const CAPTURES = String.raw`
const { apply, defineProperty } = Reflect;
const { freeze, keys, hasOwn } = Object;
const parse = JSON.parse, stringify = JSON.stringify, isArray = Array.isArray;
const ErrorCtor = Error, StringCtor = String, PromiseCtor = Promise;
const promiseThen = Promise.prototype.then, promiseResolve = Promise.resolve;
const strSlice = String.prototype.slice, objectToString = Object.prototype.toString;
const MapCtor = Map, mapGet = Map.prototype.get, mapHas = Map.prototype.has, mapSet = Map.prototype.set, mapClear = Map.prototype.clear;
const mapSize = Reflect.getOwnPropertyDescriptor(Map.prototype, 'size').get;
const clip = (s, n) => (s.length > n ? apply(strSlice, s, [0, n]) + '…' : s);
`;

export const ROUTR_GLOBAL = String.raw`
function decode(reply) {
  const tag = reply[0], body = apply(strSlice, reply, [1]);
  if (tag === 'v') return parse(body);
  if (tag === 'e') throw new ErrorCtor(body);
  return undefined;
}
// Results of cached capabilities (Capability.cache), kept per group until the group's version moves. \`epoch\` counts
// calls into the sandbox (the dispatcher bumps it): the versions are asked once per call, on first use.
let epoch = 0, checkedEpoch = -1, versionsNow = null;
const memos = [], seenVersions = [];
const MEMO_MAX = 4096;
const freezeValue = (v) => {
  if (v !== null && typeof v === 'object') { const ks = keys(v); for (let i = 0; i < ks.length; i++) freezeValue(v[ks[i]]); freeze(v); }
  return v;
};
function freshen() {
  if (checkedEpoch === epoch) return;
  checkedEpoch = epoch;
  const now = versionsNow();
  for (let g = 0; g < now.length; g++) {
    if (now[g] !== seenVersions[g]) { seenVersions[g] = now[g]; if (memos[g] !== undefined) apply(mapClear, memos[g], []); }
  }
}
function memoized(fn, index, name, group) {
  const memo = memos[group] === undefined ? (memos[group] = new MapCtor()) : memos[group];
  return { [name](...args) {
    freshen();
    const key = index + ':' + stringify(args);
    if (apply(mapHas, memo, [key])) return apply(mapGet, memo, [key]);
    const value = freezeValue(apply(fn, undefined, args));
    if (apply(mapSize, memo, []) >= MEMO_MAX) apply(mapClear, memo, []);
    apply(mapSet, memo, [key, value]);
    return value;
  } }[name];
}
const routr = {};
// Group -2 (HIDDEN_GROUP, capability-host.ts): the versions of the cache groups, never part of routr.
config.capabilities.forEach(([path, isAsync, group], index) => {
  if (group === -2) { versionsNow = capability(index, path, false); return; }
  const parts = path.split('.');
  let node = routr;
  for (let i = 0; i < parts.length - 1; i++) {
    if (!hasOwn(node, parts[i])) defineProperty(node, parts[i], { value: {}, enumerable: true });
    node = node[parts[i]];
  }
  const leaf = parts[parts.length - 1];
  const fn = capability(index, leaf, isAsync);
  defineProperty(node, leaf, { value: group >= 0 ? memoized(fn, index, leaf, group) : fn, enumerable: true });
});
const deepFreeze = (o) => { for (const k of keys(o)) deepFreeze(o[k]); return freeze(o); };
defineProperty(globalThis, 'routr', { value: deepFreeze(routr), writable: false, enumerable: false, configurable: false });
`;

export const RESULTS = String.raw`
const MAX = config.maxResultChars;
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
const failure = (kind, e) => encodeFailure(kind, clip(describe(e), 2000), stackOf(e));
const fail = (kind, message) => encodeFailure(kind, message, '');

const TOO_BIG = freeze({});
let budget = 0;
// Counts a lower bound of the output as JSON.stringify walks (after toJSON), so a huge string is refused before
// it is flattened and copied; a 500 MB rope would otherwise be materialised twice inside the sandbox.
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
`;

/** The dispatcher: run an export with the parsed argument; sync results are finished here, async ones by `asyncBranch`. */
export function dispatcherSource(asyncBranch: string): string {
  return String.raw`
function call(name, argJson, isAsync) {
  epoch++;
  let out;
  try {
    const fn = ns === null ? undefined : ns[name];
    if (typeof fn !== 'function') return fail('script', '"' + clip(name, 200) + '" is not an exported function');
    out = apply(fn, undefined, [parse(argJson)]);
    if (isAsync) {
      ${asyncBranch}
    }
    if (isThenable(out)) return fail('result', 'the export returned a Promise; use call() for async exports');
  } catch (e) {
    return failure('script', e);
  }
  return finish(out);
}
`;
}
