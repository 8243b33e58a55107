/**
 * Where in the user's sources a failure points: the first stack frame in one of the sandbox's files, or the
 * quoted specifier of an import that could not be resolved. Both engines report compile errors through these.
 */
import type { SourceLocation } from './types.js';

export function at(location: SourceLocation | undefined): string {
  return location ? ` (${location.file}:${location.line}:${location.column})` : '';
}

/** The first stack frame in one of our files: "    at f (entry.js:2:21)" or "    at entry.js:3:1". */
export function locationInStack(stack: string, files: ReadonlySet<string>): SourceLocation | undefined {
  for (const line of stack.split('\n')) {
    const m = /^\s+at (?:.*\()?(.+):(\d+):(\d+)\)?$/.exec(line);
    if (m && files.has(m[1] ?? '')) return { file: m[1] ?? '', line: Number(m[2]), column: Number(m[3]) };
  }
  return undefined;
}

/** Neither engine says where a failed import is; the quoted specifier in the source is a good guess. */
export function locateSpecifier(from: { filename: string; source: string }, specifier: string): SourceLocation | undefined {
  for (const quote of ["'", '"', '`']) {
    const index = from.source.indexOf(quote + specifier + quote);
    if (index < 0) continue;
    const before = from.source.slice(0, index);
    const line = before.split('\n').length;
    return { file: from.filename, line, column: index - before.lastIndexOf('\n') };
  }
  return undefined;
}

/** The engine's own frames (bootstrap, root and ready modules) say nothing to the plugin author. */
export function withoutEngineFrames(stack: string): string {
  return stack
    .split('\n')
    .filter((line) => !/\(?routr:(bootstrap|root|ready|internal\/ready):\d+/.test(line))
    .join('\n');
}
