/**
 * The host side of capabilities, shared by every engine: the table of host functions becomes two entry points
 * the sandbox calls with an index and the arguments as JSON text, and that answer in the reply wire format
 * (`u` undefined, `v<json>` a value, `e<message>` a throw). Everything crosses as JSON text, so arguments and
 * results are always copies, and a host Error reaches the sandbox as its message only.
 */
import type { Capability, JsonValue } from './types.js';

/**
 * [dotted path, async, cache group] per capability, in the order of the host's table. The group is -1 for a
 * capability whose results are not kept, an index into the groups' versions for one that is (Capability.cache),
 * and HIDDEN_GROUP for the internal `versions` entry the guest asks once per call (never part of `routr`).
 */
export type CapabilityEntry = [path: string, async: boolean, group: number];
export const HIDDEN_GROUP = -2;
export const VERSIONS_PATH = 'versions';

export interface CapabilityHost {
  config: CapabilityEntry[];
  hasAsync: boolean;
  callSync: (index: number, argsJson: string) => string;
  callAsync: (index: number, argsJson: string) => Promise<string>;
}

/**
 * The longest argument list, as JSON text, a capability call may carry. Checked before JSON.parse: a plugin
 * must not make the host parse (and hold) whatever its heap can build. The largest legitimate arguments — a
 * kv value (64 KiB), the headers auth.verify reads — are far below it.
 */
export const MAX_CAPABILITY_ARGS_CHARS = 1024 * 1024;

/** Host side: turns the capability table into the two functions the bootstrap closes over. */
export function capabilityHost(capabilities: Record<string, Capability>): CapabilityHost {
  const table = Object.entries(capabilities);
  checkPaths(table.map(([path]) => path));
  // Cached capabilities are grouped by their version function; one hidden entry answers every group's version.
  const versions: Array<() => number> = [];
  const groups = table.map(([path, cap]) => {
    if (!cap.cache) return -1;
    if (cap.async) throw new TypeError(`capability "${path}" cannot be both async and cached`);
    const at = versions.indexOf(cap.cache.version);
    return at >= 0 ? at : versions.push(cap.cache.version) - 1;
  });
  if (versions.length > 0) table.push([VERSIONS_PATH, { fn: () => versions.map((version) => version()) }]);
  const invoke = (index: number, argsJson: string): unknown => {
    const entry = table[index];
    if (entry === undefined) throw new Error(`no capability #${index}`);
    if (argsJson.length > MAX_CAPABILITY_ARGS_CHARS) throw new Error(`routr.${entry[0]}: arguments larger than ${MAX_CAPABILITY_ARGS_CHARS} characters as JSON are refused`);
    return entry[1].fn(...(JSON.parse(argsJson) as JsonValue[]));
  };
  return {
    config: table.map(([path, cap], i): CapabilityEntry => [path, cap.async === true, groups[i] ?? HIDDEN_GROUP]),
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
    // Never rejects: a rejected host promise handed to an engine can be reported as unhandled before the engine
    // attaches its handler (isolated-vm does that), and its Error would carry the host stack into the sandbox.
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
