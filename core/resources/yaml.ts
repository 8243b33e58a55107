/**
 * Reads resource documents from YAML (JSON is YAML too): files, directories and request bodies. Multi-document
 * files (`---`) and documents that are a list of resources (the style of Routr's own examples) both work.
 *
 * Loading is safe: js-yaml's default schema constructs only plain data (no functions, no classes), aliases are
 * capped per document so a crafted file cannot expand without bound, and nesting depth is capped by js-yaml.
 * We parse to events first and build the values from them, so each value's line is known: an error about
 * `/spec/domainRef` points at the line of `domainRef`, not just the document's first line.
 */
import { readdir, readFile, stat, extname, join } from '../runtime/files.js';
import { constructFromEvents, EVENT_ID, getScalarValue, parseEvents, YAMLException, type Event } from 'js-yaml';
import type { Problem } from './problems.js';
import type { Source } from './types.js';

/** One candidate resource: a document, or one item of a document that is a list. */
export interface SourceDocument {
  value: unknown;
  source: Source;
}

export interface ParsedDocuments {
  documents: SourceDocument[];
  problems: Problem[];
}

const MAX_ALIASES = 16;
const EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

/** Parse YAML text; a syntax error is one problem with its line and column, and no documents. */
export function parseYaml(text: string, options: { file: string }): ParsedDocuments {
  const { file } = options;
  let events: Event[];
  let values: unknown[];
  try {
    events = parseEvents(text, { filename: file });
    values = constructFromEvents(events, { source: text, filename: file, maxAliases: MAX_ALIASES });
  } catch (err) {
    if (err instanceof YAMLException) {
      const mark = err.mark;
      return { documents: [], problems: [{ file, line: mark ? mark.line + 1 : undefined, column: mark ? mark.column + 1 : undefined, message: `YAML syntax error: ${err.reason}` }] };
    }
    return { documents: [], problems: [{ file, message: `cannot parse: ${(err as Error).message}` }] };
  }
  const lineMaps = pointerLines(text, events);
  const documents: SourceDocument[] = [];
  const problems: Problem[] = [];
  values.forEach((value, index) => {
    const lines = lineMaps[index] ?? new Map<string, number>();
    if (value === null || value === undefined) return; // an empty document
    if (Array.isArray(value)) {
      value.forEach((item, i) => documents.push({ value: item, source: sourceFor(file, lines, `/${i}`) }));
      return;
    }
    if (typeof value !== 'object') {
      problems.push({ file, line: lines.get(''), message: 'not a resource: expected a mapping with apiVersion, kind, ref and spec (or a list of them)' });
      return;
    }
    documents.push({ value, source: sourceFor(file, lines, '') });
  });
  return { documents, problems };
}

function sourceFor(file: string, lines: Map<string, number>, prefix: string): Source {
  return { file, line: lines.get(prefix), lineOf: (pointer) => lines.get(prefix + pointer) };
}

/**
 * Read a file or every YAML/JSON file under a directory (recursively, sorted; names starting with '.' are
 * skipped, which also skips the `..data` links Kubernetes puts in mounted ConfigMaps).
 */
export async function readResourcePath(path: string): Promise<ParsedDocuments & { files: string[] }> {
  let files: string[];
  try {
    files = (await stat(path)).isDirectory() ? await listFiles(path) : [path];
  } catch (err) {
    return { documents: [], problems: [{ file: path, message: `cannot read: ${(err as Error).message}` }], files: [] };
  }
  const result: ParsedDocuments & { files: string[] } = { documents: [], problems: [], files };
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      result.problems.push({ file, message: `cannot read: ${(err as Error).message}` });
      continue;
    }
    const parsed = parseYaml(text, { file });
    result.documents.push(...parsed.documents);
    result.problems.push(...parsed.problems);
  }
  return result;
}

/** The resource files under `dir`, in load order. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const full = join(dir, entry.name);
    // Follow symlinks: stat tells what they point at.
    const info = entry.isSymbolicLink() ? await stat(full).catch(() => undefined) : entry;
    if (!info) continue;
    if (info.isDirectory()) out.push(...(await listFiles(full)));
    else if (info.isFile() && EXTENSIONS.has(extname(entry.name).toLowerCase())) out.push(full);
  }
  return out;
}

interface Frame {
  type: 'document' | 'mapping' | 'sequence' | 'skip';
  path: string;
  index: number;
  expectingKey: boolean;
  key: string;
}

/**
 * For each document, the line (1-based) of every JSON pointer: a property's line is its key's line, an array
 * item's is where the item starts. Complex (non-scalar) keys are skipped; no resource uses them.
 */
function pointerLines(text: string, events: Event[]): Array<Map<string, number>> {
  const lineStarts = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lineStarts.push(i + 1);
  const lineAt = (offset: number): number => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
  const maps: Array<Map<string, number>> = [];
  let lines = new Map<string, number>();
  const stack: Frame[] = [];
  const frame = (type: Frame['type'], path: string): Frame => ({ type, path, index: 0, expectingKey: true, key: '' });
  for (const event of events) {
    if (event.type === EVENT_ID.DOCUMENT) {
      lines = new Map();
      maps.push(lines);
      stack.push(frame('document', ''));
      continue;
    }
    if (event.type === EVENT_ID.POP) {
      stack.pop();
      continue;
    }
    const top = stack[stack.length - 1];
    const offset = startOf(event);
    const container = event.type === EVENT_ID.MAPPING || event.type === EVENT_ID.SEQUENCE;
    if (!top || top.type === 'skip') {
      if (container) stack.push(frame('skip', ''));
      continue;
    }
    let path: string;
    if (top.type === 'mapping' && top.expectingKey) {
      top.expectingKey = false;
      if (event.type === EVENT_ID.SCALAR) {
        top.key = getScalarValue(text, event);
        if (offset >= 0) lines.set(`${top.path}/${escapePointer(top.key)}`, lineAt(offset));
      } else {
        top.key = '\u0000complex';
        if (container) stack.push(frame('skip', ''));
      }
      continue;
    }
    if (top.type === 'mapping') {
      top.expectingKey = true;
      path = `${top.path}/${escapePointer(top.key)}`;
    } else if (top.type === 'sequence') {
      path = `${top.path}/${top.index++}`;
    } else {
      path = '';
    }
    if (offset >= 0 && !lines.has(path)) lines.set(path, lineAt(offset));
    if (event.type === EVENT_ID.MAPPING) stack.push(frame('mapping', path));
    else if (event.type === EVENT_ID.SEQUENCE) stack.push(frame('sequence', path));
  }
  return maps;
}

function startOf(event: Event): number {
  switch (event.type) {
    case EVENT_ID.MAPPING:
    case EVENT_ID.SEQUENCE:
      return firstOffset(event.anchorStart, event.tagStart, event.start);
    case EVENT_ID.SCALAR:
      return firstOffset(event.anchorStart, event.tagStart, event.valueStart);
    case EVENT_ID.ALIAS:
      return event.anchorStart;
    default:
      return -1;
  }
}

function firstOffset(...offsets: number[]): number {
  const present = offsets.filter((o) => o >= 0);
  return present.length ? Math.min(...present) : -1;
}

/** RFC 6901 escaping, as ajv writes instance paths. */
export function escapePointer(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}
