/**
 * Runtime facts for the sandbox layer: which JavaScript runtime we are on (core/runtime decides), and whether Node
 * was started the way isolated-vm needs. Engine-neutral on purpose: it loads on Bun and Deno, where
 * `createEngine()` picks QuickJS instead of failing inside a native module.
 */

// The one runtime detection routr has lives in the runtime seam; the sandbox uses it too.
export { detectRuntime, type RuntimeName } from '../core/runtime/detect.js';

export interface NodeLaunch {
  nodeVersion: string;
  execArgv: readonly string[];
  nodeOptions: string | undefined;
}

function currentLaunch(): NodeLaunch {
  return { nodeVersion: process.versions.node, execArgv: process.execArgv, nodeOptions: process.env.NODE_OPTIONS };
}

/**
 * Node 20+ boots from a V8 startup snapshot that isolated-vm's isolates are not safe with (crashes rather than
 * errors), so the process must run with --no-node-snapshot. Returns the problem as text, or undefined when fine.
 */
export function nodeSnapshotProblem(launch: NodeLaunch = currentLaunch()): string | undefined {
  const major = Number.parseInt(launch.nodeVersion.split('.')[0] ?? '0', 10);
  if (major < 20) return undefined;
  const flag = '--no-node-snapshot';
  const inOptions = (launch.nodeOptions ?? '').split(/\s+/).includes(flag);
  if (launch.execArgv.includes(flag) || inOptions) return undefined;
  return (
    `isolated-vm needs Node ${launch.nodeVersion} to be started with ${flag} ` +
    `(for example \`node ${flag} dist/core/cli/main.js\`, or NODE_OPTIONS=${flag}); ` +
    'without it isolates can crash the whole process'
  );
}
