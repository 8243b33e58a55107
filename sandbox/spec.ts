/**
 * What every engine does with SandboxOptions before it builds anything: check them (a TypeError names the
 * sandbox and the field) and fill the defaults, so that both engines refuse and accept exactly the same options.
 */
import { capabilityHost, type CapabilityHost } from './capability-host.js';
import type { SandboxOptions } from './types.js';

export const DEFAULT_MAX_RESULT_BYTES = 1024 * 1024;

export interface SandboxSpec {
  name: string;
  source: string;
  filename: string;
  modules: Record<string, string>;
  timeoutMs: number;
  memoryMb: number;
  maxResultBytes: number;
  host: CapabilityHost;
}

export function checkedSpec(options: SandboxOptions): SandboxSpec {
  const { name, source, limits } = options;
  if (typeof name !== 'string' || name === '') throw new TypeError('sandbox name must be a non-empty string');
  if (typeof source !== 'string') throw new TypeError(`${name}: source must be a string`);
  if (!(Number.isFinite(limits?.timeoutMs) && limits.timeoutMs > 0)) throw new TypeError(`${name}: limits.timeoutMs must be > 0`);
  if (!(Number.isFinite(limits.memoryMb) && limits.memoryMb >= 8)) throw new TypeError(`${name}: limits.memoryMb must be >= 8`);
  const maxResultBytes = options.maxResultBytes ?? DEFAULT_MAX_RESULT_BYTES;
  if (!(Number.isInteger(maxResultBytes) && maxResultBytes > 0)) throw new TypeError(`${name}: maxResultBytes must be a positive integer`);
  return {
    name,
    source,
    filename: options.filename ?? `${name}.js`,
    modules: { ...options.modules },
    timeoutMs: limits.timeoutMs,
    memoryMb: limits.memoryMb,
    maxResultBytes,
    host: capabilityHost(options.capabilities ?? {}),
  };
}

/** A result string is at most 3 bytes per UTF-16 unit, so most results need no byte count at all. */
export function overByteLimit(text: string, max: number): boolean {
  return text.length * 3 > max && new TextEncoder().encode(text).length > max;
}

/** A sandbox as its engine tracks it: built by start(), and reporting its disposal. */
export interface Tracked {
  start(): Promise<void>;
  dispose(): void;
  onDisposed: (() => void) | undefined;
}

/**
 * What every engine's create() does with a new sandbox: keep it in `live` until it is disposed (disposeAll at
 * shutdown), build it, and dispose it when the first build fails (the failure is create()'s).
 */
export async function startTracked<S extends Tracked>(live: Set<S>, sandbox: S): Promise<S> {
  live.add(sandbox);
  sandbox.onDisposed = () => live.delete(sandbox);
  try {
    await sandbox.start();
  } catch (err) {
    sandbox.dispose();
    throw err;
  }
  return sandbox;
}
