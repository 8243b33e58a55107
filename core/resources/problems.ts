/**
 * Problems found in resources, and how they read: `file:line: Kind ref /json/pointer: message`, the shape every
 * report uses (CLI, logs, the management API), so an operator can jump to the line and see which resource and
 * which field is wrong. Every problem is collected before anything is reported: validation never stops at the
 * first one.
 */
import type { Source } from './types.js';

export interface Problem {
  file?: string;
  line?: number;
  column?: number;
  /** The resource's kind and ref when the problem belongs to one. */
  kind?: string;
  ref?: string;
  /** JSON pointer into the document ('' for the document itself). */
  path?: string;
  message: string;
}

export function formatProblem(problem: Problem): string {
  const where = problem.file ? `${problem.file}${problem.line ? `:${problem.line}${problem.column ? `:${problem.column}` : ''}` : ''}: ` : '';
  const what = problem.kind ? `${problem.kind} ${problem.ref ?? '<no ref>'} ` : '';
  const path = problem.path !== undefined ? `${problem.path || '/'}: ` : '';
  return `${where}${what}${path}${problem.message}`;
}

/** A problem located at `path` inside a resource from `source`: the line of that path when known. */
export function problemAt(source: Source, what: { kind?: string; ref?: string; path: string; message: string }): Problem {
  const line = source.convertedFrom ? source.line : (lineFor(source, what.path) ?? source.line);
  const message = source.convertedFrom ? `${what.message} (in the v2beta1 conversion of ${source.convertedFrom})` : what.message;
  return { file: source.file, line, kind: what.kind, ref: what.ref, path: what.path, message };
}

/** The line of the deepest pointer prefix the loader knows (a missing property points at its parent). */
function lineFor(source: Source, path: string): number | undefined {
  if (!source.lineOf) return undefined;
  let pointer = path;
  for (;;) {
    const line = source.lineOf(pointer);
    if (line !== undefined) return line;
    if (pointer === '') return undefined;
    pointer = pointer.slice(0, pointer.lastIndexOf('/'));
  }
}

/** Thrown where problems end an operation (a load at startup, a CLI command); `problems` holds them all. */
export class ResourceError extends Error {
  override name = 'ResourceError';
  readonly problems: Problem[];
  constructor(summary: string, problems: Problem[]) {
    super(`${summary}:\n  ${problems.map(formatProblem).join('\n  ')}`);
    this.problems = problems;
  }
}

/** Where a resource is defined, for messages about another one (`agents.yaml:12`), or undefined. */
export function describeSource(source: Source | undefined): string | undefined {
  if (!source?.file) return undefined;
  return source.line ? `${source.file}:${source.line}` : source.file;
}
