/**
 * `routr resources <verb>`: work with resources offline (validate, convert) and on a running server through the
 * management API (apply, get, delete). Exit codes: 0 ok, 1 invalid or refused, 2 usage.
 *
 * `apply` sends every file as one YAML stream, so the server applies all or nothing; the server's problems name
 * lines in that stream, which we map back to the operator's own files before printing. Passwords are never
 * printed: the server omits them, and `convert` writes its output (which must carry them) only to a file.
 */
import { existsSync, join, mkdirSync, readFile, resolve, statSync, writeFile } from '../runtime/files.js';
import { parseArgs, writeStderr, writeStdout } from '../runtime/process.js';
import { dump } from 'js-yaml';
import { REQUEST_SOURCE } from '../resources/api.js';
import { formatProblem, type Problem } from '../resources/problems.js';
import { KINDS, parseKind, V1_API_VERSION, type Kind } from '../resources/types.js';
import { toRoutrShapes } from '../resources/export.js';
import { convertV1 } from '../resources/v1.js';
import { sortProblems, validateDocuments } from '../resources/validate.js';
import { listFiles, readResourcePath, type SourceDocument } from '../resources/yaml.js';
import { CLIENT_OPTIONS, noTokenMessage, resolveClient } from './client.js';
import { progress } from './progress.js';
import { UsageError } from './usage.js';

const VERBS: Record<string, (args: string[]) => Promise<number>> = { validate, convert, export: exportSet, apply, get, delete: remove };

export const RESOURCES_USAGE = 'resources validate <path>... | convert <v1 path> -o <file> | export <path>... --format routr -o <file> | apply -f <file|dir> | get <kind> [ref] | delete <kind> <ref>   (server verbs: --url, --token, --config)';

export async function runResources(args: string[]): Promise<number> {
  const [verb, ...rest] = args;
  const run = verb ? VERBS[verb] : undefined;
  if (!run || !Object.hasOwn(VERBS, verb)) throw new UsageError(verb ? `unknown resources verb "${verb}"` : 'resources needs a verb: validate, convert, apply, get or delete');
  return run(rest);
}

const out = (text: string) => writeStdout(text.endsWith('\n') ? text : `${text}\n`);
const err = (text: string) => writeStderr(text.endsWith('\n') ? text : `${text}\n`);

/** Every document under every path, and the problems reading them. */
async function readAll(paths: string[]): Promise<{ documents: SourceDocument[]; problems: Problem[] }> {
  const documents: SourceDocument[] = [];
  const problems: Problem[] = [];
  for (const path of paths) {
    const read = await readResourcePath(path);
    documents.push(...read.documents);
    problems.push(...read.problems);
  }
  return { documents, problems };
}

/** `validate <path>...`: every problem in every file at once; Server documents are checked too. */
async function validate(args: string[]): Promise<number> {
  const { positionals } = parseArgs({ args, allowPositionals: true, strict: true, options: {} });
  if (positionals.length === 0) throw new UsageError('resources validate needs a file or directory');
  const { documents, problems } = await readAll(positionals);
  const checked = validateDocuments(documents, { servers: 'validate' });
  problems.push(...checked.problems);
  for (const w of checked.warnings) err(`warning: ${formatProblem(w)}`);
  if (problems.length) {
    for (const p of sortProblems(problems)) err(formatProblem(p));
    err(`${problems.length} problem${problems.length === 1 ? '' : 's'}: invalid`);
    return 1;
  }
  const counts = KINDS.map((k) => [k, checked.entries.filter((e) => e.resource.kind === k).length] as const).filter(([, n]) => n > 0);
  const parts = [...counts.map(([k, n]) => `${n} ${k}`), ...(checked.servers ? [`${checked.servers} Server`] : [])];
  out(`valid: ${parts.join(', ') || 'no resources'}`);
  return 0;
}

/** `convert <v1 path> -o <file>`: v1beta1 documents become v2beta1 (v2 documents pass through), checked whole. */
async function convert(args: string[]): Promise<number> {
  const { positionals, values } = parseArgs({ args, allowPositionals: true, strict: true, options: { out: { type: 'string', short: 'o' }, force: { type: 'boolean' } } });
  if (positionals.length !== 1) throw new UsageError('resources convert needs one v1 file or directory');
  if (!values.out) throw new UsageError('resources convert needs -o <file>: the output carries passwords, so it goes to a file, never to the terminal');
  if (existsSync(values.out) && !values.force) throw new UsageError(`${values.out} exists: pass --force to overwrite it`);
  const read = await readResourcePath(positionals[0]);
  const v1 = read.documents.filter((d) => (d.value as { apiVersion?: unknown } | null)?.apiVersion === V1_API_VERSION);
  const v2 = read.documents.filter((d) => !v1.includes(d));
  const conversion = convertV1(v1);
  const documents = [...v2, ...conversion.documents];
  const checked = validateDocuments(documents, { servers: 'refuse' });
  const problems = sortProblems([...read.problems, ...conversion.problems, ...checked.problems]);
  for (const w of conversion.warnings) err(`warning: ${formatProblem(w)}`);
  if (problems.length) {
    for (const p of problems) err(formatProblem(p));
    err(`${problems.length} problem${problems.length === 1 ? '' : 's'}: nothing written`);
    return 1;
  }
  const header = `# Converted to v2beta1 by routr resources convert from ${positionals[0]}.\n`;
  const body = documents.map((d) => dump(d.value, { lineWidth: -1 })).join('---\n');
  await writeFile(values.out, header + body, { mode: 0o600 });
  out(`wrote ${documents.length} resources to ${values.out} (${conversion.documents.length} converted from ${V1_API_VERSION})`);
  return 0;
}

/** Routr's own file names in its config/resources directory, per kind. */
const ROUTR_FILES: Record<Kind, string> = { AccessControlList: 'acl.yaml', Agent: 'agents.yaml', Credentials: 'credentials.yaml', Domain: 'domains.yaml', Number: 'numbers.yaml', Peer: 'peers.yaml', Trunk: 'trunks.yaml' };

/**
 * `export <path>... --format routr -o <file|dir/>`: the set (validated whole first) in Routr v2's own shape, one
 * list of resources (JSON when the file name ends in .json, else YAML), or, when -o names a directory, one file
 * per kind as Routr's config/resources has them (acl.yaml, agents.yaml, ...). Passwords go with it, so only to
 * files (mode 0600).
 */
async function exportSet(args: string[]): Promise<number> {
  const { positionals, values } = parseArgs({ args, allowPositionals: true, strict: true, options: { format: { type: 'string' }, out: { type: 'string', short: 'o' }, force: { type: 'boolean' } } });
  if (positionals.length === 0) throw new UsageError('resources export needs a file or directory');
  if (values.format !== 'routr') throw new UsageError('resources export needs --format routr (Routr v2\'s own resource shape)');
  if (!values.out) throw new UsageError('resources export needs -o <file>: the output carries passwords, so it goes to a file, never to the terminal');
  const toDirectory = values.out.endsWith('/') || (existsSync(values.out) && statSync(values.out).isDirectory());
  const targets = toDirectory ? Object.values(ROUTR_FILES).map((f) => join(values.out!, f)) : [values.out];
  const taken = targets.filter((t) => existsSync(t));
  if (taken.length && !values.force) throw new UsageError(`${taken.join(', ')} exist${taken.length === 1 ? 's' : ''}: pass --force to overwrite`);
  const { documents, problems } = await readAll(positionals);
  const checked = validateDocuments(documents, { servers: 'skip' });
  problems.push(...checked.problems);
  if (problems.length) {
    for (const p of sortProblems(problems)) err(formatProblem(p));
    err(`${problems.length} problem${problems.length === 1 ? '' : 's'}: nothing written`);
    return 1;
  }
  const exported = toRoutrShapes(checked.entries.map((e) => e.resource));
  for (const w of exported.warnings) err(`warning: ${formatProblem(w)}`);
  const yaml = (list: Array<Record<string, unknown>>) => `# Routr v2 resources, written by routr resources export --format routr from ${positionals.join(' ')}.\n${list.map((d) => dump([d], { lineWidth: -1 })).join('\n')}`;
  if (toDirectory) {
    mkdirSync(values.out, { recursive: true });
    for (const kind of KINDS) {
      const list = exported.documents.filter((d) => d.kind === kind);
      if (list.length) await writeFile(join(values.out, ROUTR_FILES[kind]), yaml(list), { mode: 0o600 });
    }
  } else {
    const text = values.out.toLowerCase().endsWith('.json') ? `${JSON.stringify(exported.documents, null, 2)}\n` : yaml(exported.documents);
    await writeFile(values.out, text, { mode: 0o600 });
  }
  out(`wrote ${exported.documents.length} resources in Routr's shape to ${values.out}`);
  return 0;
}

const SERVER_OPTIONS = CLIENT_OPTIONS;

/** `apply -f <file|dir>`: all files in one request; created/updated/unchanged per resource. */
async function apply(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, strict: true, options: { ...SERVER_OPTIONS, file: { type: 'string', short: 'f' } } });
  if (!values.file || positionals.length) throw new UsageError('resources apply needs -f <file|dir>');
  const steps = progress();
  steps.step(`reading ${values.file}`);
  const stream = await bundle(values.file);
  steps.step(`${stream.files} file${stream.files === 1 ? '' : 's'}, ${(stream.text.length / 1024).toFixed(1)} KiB; the server validates the whole resulting set before it applies anything`);
  let answer: Answer;
  try {
    answer = await call(values, 'POST', '', { body: stream.text, contentType: 'application/yaml' });
  } finally {
    steps.done();
  }
  const body = answer.body as { changes?: Array<{ kind: string; ref: string; action: string }>; warnings?: string[]; problems?: Problem[] };
  for (const w of body.warnings ?? []) err(`warning: ${stream.relocate(w)}`);
  if (answer.status !== 200) return refused(answer, stream.relocate);
  for (const c of body.changes ?? []) out(`${c.kind} ${c.ref} ${c.action}`);
  return 0;
}

/** `get <kind> [ref] [-o yaml|json]`. */
async function get(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, strict: true, options: { ...SERVER_OPTIONS, output: { type: 'string', short: 'o', default: 'yaml' } } });
  if (positionals.length < 1 || positionals.length > 2) throw new UsageError('resources get <kind> [ref]');
  if (values.output !== 'yaml' && values.output !== 'json') throw new UsageError('-o must be yaml or json');
  const kind = kindArg(positionals[0]);
  const answer = await call(values, 'GET', positionals.length === 2 ? `/${kind}/${encodeURIComponent(positionals[1])}` : `/${kind}`);
  if (answer.status !== 200) return refused(answer);
  const body = answer.body as { items?: unknown[] };
  const items = positionals.length === 2 ? [answer.body] : (body.items ?? []);
  if (values.output === 'json') out(JSON.stringify(positionals.length === 2 ? answer.body : items, null, 2));
  else if (items.length) out(items.map((item) => dump(item, { lineWidth: -1 })).join('---\n'));
  else err(`no ${kind} resources`);
  return 0;
}

/** `delete <kind> <ref>`. */
async function remove(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, strict: true, options: SERVER_OPTIONS });
  if (positionals.length !== 2) throw new UsageError('resources delete <kind> <ref>');
  const kind = kindArg(positionals[0]);
  const answer = await call(values, 'DELETE', `/${kind}/${encodeURIComponent(positionals[1])}`);
  if (answer.status !== 200) return refused(answer);
  out(`${kind} ${positionals[1]} deleted`);
  return 0;
}

function kindArg(name: string): Kind {
  const kind = parseKind(name);
  if (!kind) throw new UsageError(`unknown kind "${name}" (known: ${KINDS.join(', ')})`);
  return kind;
}

interface Answer {
  status: number;
  body: unknown;
}

async function call(values: { url?: string; token?: string; config?: string }, method: string, path: string, options: { body?: string; contentType?: string } = {}): Promise<Answer> {
  const client = resolveClient(values);
  const base = client.url;
  const token = client.token;
  if (!token) throw new UsageError(noTokenMessage(client));
  const url = `${base}/api/v1/resources${path}`;
  let res: Response;
  try {
    res = await fetch(url, { method, body: options.body, headers: { authorization: `Bearer ${token}`, ...(options.contentType ? { 'content-type': options.contentType } : {}) } });
  } catch (e) {
    throw new Error(`cannot reach routr at ${base}: ${((e as Error).cause as Error | undefined)?.message ?? (e as Error).message}`);
  }
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text for the message
  }
  return { status: res.status, body };
}

function refused(answer: Answer, relocate: (line: string) => string = (l) => l): number {
  const body = answer.body as { error?: string; details?: string[] } | string;
  if (typeof body === 'string') err(`routr answered ${answer.status}: ${body}`);
  else {
    err(`routr answered ${answer.status}: ${body.error ?? 'error'}`);
    for (const line of body.details ?? []) err(`  ${relocate(line)}`);
  }
  return 1;
}

/**
 * Every file under `path` as one multi-document YAML stream, and a function that rewrites `<request>:N` in the
 * server's messages to the file and line N came from.
 */
async function bundle(path: string): Promise<{ text: string; files: number; relocate: (line: string) => string }> {
  const files = existsSync(path) ? await listFiles(path).catch(async () => [path]) : [];
  if (files.length === 0) throw new UsageError(`${path}: no such file, or no .yaml/.yml/.json files in it`);
  const starts: Array<{ file: string; line: number }> = [];
  let text = '';
  let line = 1;
  for (const file of files) {
    const content = await readFile(file, 'utf8');
    // The separator goes on a line of its own, so every file starts on a fresh line of the stream.
    text += '---\n';
    line += 1;
    starts.push({ file: resolve(file), line });
    text += content.endsWith('\n') ? content : `${content}\n`;
    line += (content.match(/\n/g)?.length ?? 0) + (content.endsWith('\n') ? 0 : 1);
  }
  const relocate = (message: string): string =>
    message.replace(new RegExp(`${REQUEST_SOURCE.replace(/[<>]/g, '\\$&')}:(\\d+)`, 'g'), (_m, n: string) => {
      const at = Number(n);
      const start = [...starts].reverse().find((s) => s.line <= at);
      return start ? `${start.file}:${at - start.line + 1}` : `${REQUEST_SOURCE}:${n}`;
    });
  return { text, files: files.length, relocate };
}
