/**
 * The process routr runs in: environment, identity, signals, exit, standard streams, child processes and
 * command-line parsing. Bun and Deno provide Node's `process` object; routr reaches it only through here.
 */
export { spawnSync } from 'node:child_process';
export { hostname, networkInterfaces } from 'node:os';
export { parseArgs } from 'node:util';

/** An environment variable, or undefined. */
export function env(name: string): string | undefined {
  return process.env[name];
}

/** The whole environment (for code that takes an injectable env, defaulting to this one). */
export function environment(): Record<string, string | undefined> {
  return process.env;
}

export const pid: number = process.pid;

/** Command-line arguments after the runtime and the script. */
export function args(): string[] {
  return process.argv.slice(2);
}

/** SIGTERM and SIGINT reach `listener` with their name (Deno and Bun deliver them through `process` too). */
export function onSignal(signal: 'SIGTERM' | 'SIGINT', listener: (signal: string) => void): void {
  process.on(signal, () => listener(signal));
}

/** The last resort: an exception or rejection nothing else caught reaches `listener` (and the process goes on). */
export function onUncaught(listener: (kind: 'exception' | 'rejection', err: unknown) => void): void {
  process.on('uncaughtException', (err) => listener('exception', err));
  process.on('unhandledRejection', (reason) => listener('rejection', reason));
}

export function exit(code: number): never {
  process.exit(code);
}

/** The exit code used when the process ends by itself. */
export function setExitCode(code: number): void {
  process.exitCode = code;
}

/** End at once, with a core dump where the system keeps them: the last resort of a drain that hangs. */
export function abort(): never {
  process.abort();
}

export function writeStdout(text: string): void {
  process.stdout.write(text);
}

export function writeStderr(text: string): void {
  process.stderr.write(text);
}

/** Whether standard error is a terminal (progress may redraw a line there). */
export function stderrIsTTY(): boolean {
  return process.stderr.isTTY === true;
}

/** Whether standard output is a terminal. */
export function stdoutIsTTY(): boolean {
  return process.stdout.isTTY === true;
}

/** Run `fn` after the current I/O callbacks (Node's setImmediate): batches work without a timer. */
export function soon(fn: () => void): void {
  setImmediate(fn);
}
