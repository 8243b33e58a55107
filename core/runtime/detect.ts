/**
 * Which runtime routr runs on, decided in one place, and how to start another script on the same runtime (the
 * CLI's own child processes, the tests' routr processes): Node needs --no-node-snapshot for isolated-vm, Deno
 * needs `run -A` for its permissions, Bun takes the script as is.
 */

export type RuntimeName = 'node' | 'bun' | 'deno' | 'unknown';

/** Bun and Deno both imitate Node (`process.versions.node` is set on each), so they are tested first. */
export function detectRuntime(): RuntimeName {
  const g = globalThis as { Bun?: unknown; Deno?: unknown; process?: { versions?: { node?: unknown } } };
  if (g.Bun !== undefined) return 'bun';
  if (g.Deno !== undefined) return 'deno';
  if (typeof g.process?.versions?.node === 'string') return 'node';
  return 'unknown';
}

/** The runtime this process runs on, with its version. */
export function currentRuntime(): { name: RuntimeName; version: string } {
  const name = detectRuntime();
  const versions = process.versions as Record<string, string | undefined>;
  const version = (name === 'bun' ? versions.bun : name === 'deno' ? versions.deno : versions.node) ?? 'unknown';
  return { name, version };
}

export interface Launch {
  /** The runtime's executable. */
  command: string;
  /** Arguments before the script. */
  args: string[];
}

/**
 * How to run a script of this package on the current runtime, with the same flags `npm start` uses on Node.
 * `extra` are Node-only flags (such as --enable-source-maps), dropped elsewhere.
 */
export function launchCommand(options: { nodeFlags?: string[] } = {}): Launch {
  switch (detectRuntime()) {
    case 'bun':
      return { command: process.execPath, args: [] };
    case 'deno':
      return { command: process.execPath, args: ['run', '-A'] };
    default:
      return { command: process.execPath, args: ['--no-node-snapshot', ...(options.nodeFlags ?? [])] };
  }
}
