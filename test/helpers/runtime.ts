/**
 * Tests on three runtimes: the same files run under `node --test`, `bun test` and `deno test`. Child processes
 * (routr itself, small scripts) start on the runtime running the test, through `launchCommand` from the
 * runtime seam, so `npm run test:bun` exercises routr on Bun end to end. A test that cannot run on some runtime
 * says so with `onlyOn` (listed in README, "Runtimes"), never by silently passing.
 */
import { detectRuntime, launchCommand, type RuntimeName } from '../../core/runtime/detect.js';
import { packagePath } from '../../core/paths.js';

export const runtime: RuntimeName = detectRuntime();

/** The command and arguments that run the routr CLI (`dist/core/cli/main.js`) with `args` on this runtime. */
export function cliCommand(args: string[], options: { nodeFlags?: string[] } = {}): [string, string[]] {
  const launch = launchCommand({ nodeFlags: options.nodeFlags ?? ['--enable-source-maps'] });
  return [launch.command, [...launch.args, packagePath('dist', 'core', 'cli', 'main.js'), ...args]];
}

/** The command and arguments that evaluate an ES module `source` on this runtime. */
export function evalModule(source: string, options: { nodeFlags?: string[] } = {}): [string, string[]] {
  const launch = launchCommand({ nodeFlags: options.nodeFlags ?? [] });
  if (runtime === 'deno') return [launch.command, ['eval', '--ext=js', source]];
  if (runtime === 'bun') return [launch.command, ['-e', source]];
  return [launch.command, [...launch.args.filter((a) => a !== '--no-node-snapshot'), ...(options.nodeFlags ?? []), '--input-type=module', '-e', source]];
}

/** `{ skip }` for node:test: the test runs only on `runtimes`; elsewhere it is skipped with `reason`, visibly. */
export function onlyOn(runtimes: RuntimeName[], reason: string): { skip: string | false } {
  return { skip: runtimes.includes(runtime) ? false : `not on ${runtime}: ${reason}` };
}
