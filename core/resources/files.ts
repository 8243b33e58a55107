/**
 * The `files` provider: every YAML/JSON file under one directory is the resource set. Changes are picked up by
 * a filesystem watch (plus a slow poll, for filesystems that send no events) and reloaded whole: a directory
 * that validates replaces the running set in one swap; one that does not is logged with every problem and the
 * running set stays in place, so a half-saved edit can never take routing down.
 *
 * `apply` and `delete` write files, so the directory stays the source of truth: a new resource gets its own file
 * (`<kind>-<ref>.yaml`), a resource alone in its file is rewritten there, and a resource sharing a file with
 * others (or converted from v1beta1) is refused with a message naming the file to edit — we never rewrite a
 * hand-written multi-document file and lose its comments.
 */
import { watch, type FSWatcher, readFile, rename, stat, unlink, writeFile, basename, dirname, join } from '../runtime/files.js';
import { dump } from 'js-yaml';
import type { Logger } from '../log.js';
import { formatProblem, ResourceError, type Problem } from './problems.js';
import { ResourceSet } from './set.js';
import { checkDelete, Listeners, planApply, storedDocuments, type ApplyOptions, type ApplyResult, type ChangeListener, type DeleteResult, type ResourceStore } from './store.js';
import type { Entry, Kind } from './types.js';
import { sortProblems, validateDocuments } from './validate.js';
import { listFiles, parseYaml, readResourcePath, type SourceDocument } from './yaml.js';
import { pid } from '../runtime/process.js';

export interface FilesStoreOptions {
  /** The directory; absent: an empty set that cannot be changed through the API. */
  path?: string;
  logger: Logger;
  /** Watch the directory for changes (default true). */
  watch?: boolean;
  /** Quiet time after a change event before reloading, in ms (default 150): editors write in bursts. */
  debounceMs?: number;
  /** Also compare file sizes and times this often, in ms (default 5000; 0: never). */
  pollMs?: number;
}

export interface ReloadResult {
  changed: boolean;
  problems: Problem[];
}

export class FilesResourceStore implements ResourceStore {
  readonly provider = 'files' as const;
  readonly path: string | undefined;
  #set: ResourceSet;
  readonly #logger: Logger;
  readonly #listeners = new Listeners();
  /** Reloads, applies and deletes run one at a time, in order. */
  #queue: Promise<unknown> = Promise.resolve();
  #watcher: FSWatcher | undefined;
  #poller: ReturnType<typeof setInterval> | undefined;
  #debounce: ReturnType<typeof setTimeout> | undefined;
  #signature = '';
  #closed = false;

  private constructor(set: ResourceSet, options: FilesStoreOptions) {
    this.#set = set;
    this.path = options.path;
    this.#logger = options.logger;
  }

  /** Load the directory; throws ResourceError with every problem if it does not validate. */
  static async open(options: FilesStoreOptions): Promise<FilesResourceStore> {
    if (!options.path) return new FilesResourceStore(ResourceSet.EMPTY, options);
    const loaded = await load(options.path);
    if (loaded.problems.length) throw new ResourceError(`invalid resources in ${options.path}`, loaded.problems);
    const store = new FilesResourceStore(loaded.set, options);
    store.#logWarnings(loaded.warnings);
    store.#signature = await signature(options.path);
    if (options.watch !== false) store.#watch(options);
    options.logger.info({ path: options.path, resources: loaded.set.size }, 'resources loaded');
    return store;
  }

  current(): ResourceSet {
    return this.#set;
  }

  onChange(listener: ChangeListener): () => void {
    return this.#listeners.add(listener);
  }

  /** Read the directory again; swap if it validates and differs, otherwise keep the running set and log why. */
  reload(): Promise<ReloadResult> {
    return this.#serial(() => this.#reload());
  }

  async #reload(): Promise<ReloadResult> {
    if (!this.path || this.#closed) return { changed: false, problems: [] };
    this.#signature = await signature(this.path);
    const loaded = await load(this.path);
    if (loaded.problems.length) {
      this.#logger.error({ path: this.path, problems: loaded.problems.map(formatProblem) }, 'resources not reloaded: the changed set is invalid; the running set stays in place');
      return { changed: false, problems: loaded.problems };
    }
    if (loaded.set.digest === this.#set.digest) return { changed: false, problems: [] };
    this.#logWarnings(loaded.warnings);
    this.#swap(loaded.set);
    this.#logger.info({ path: this.path, resources: loaded.set.size }, 'resources reloaded');
    return { changed: true, problems: [] };
  }

  apply(documents: SourceDocument[], options: ApplyOptions = {}): Promise<ApplyResult> {
    return this.#serial(async () => {
      const plan = planApply(storedDocuments(this.#set), documents, options);
      if (!plan.ok) return { ok: false, status: plan.failure, problems: plan.problems, warnings: plan.warnings };
      if (!this.path) return { ok: false, status: 'conflict', problems: [noPath()], warnings: plan.warnings };
      const targets: Array<[string, Entry]> = [];
      const refusals: Problem[] = [];
      for (const entry of plan.writes) {
        const existing = plan.replaced.get(`${entry.resource.kind}/${entry.resource.ref}`);
        const target = existing ? await this.#ownFile(existing) : await this.#newFile(entry);
        if (typeof target === 'string') targets.push([target, entry]);
        else refusals.push(target);
      }
      if (refusals.length) return { ok: false, status: 'conflict', problems: refusals, warnings: plan.warnings };
      // Temporary names start with '.', so a reload in between never reads a half-written file.
      for (const [file, entry] of targets) await writeAtomically(file, render(entry));
      const reloaded = await this.#reload();
      if (reloaded.problems.length) return { ok: false, status: 'conflict', problems: [writtenButInvalid(), ...reloaded.problems], warnings: plan.warnings };
      return { ok: true, changes: plan.changes, warnings: plan.warnings };
    });
  }

  delete(kind: Kind, ref: string): Promise<DeleteResult> {
    return this.#serial(async () => {
      const allowed = checkDelete(this.#set, { kind, ref });
      if (!allowed.ok) return allowed;
      if (!this.path) return { ok: false, status: 'conflict', problems: [noPath()] };
      const entry = this.#set.entries().find((e) => e.resource.kind === kind && e.resource.ref === ref)!;
      const file = await this.#ownFile(entry);
      if (typeof file !== 'string') return { ok: false, status: 'conflict', problems: [file] };
      await unlink(file);
      const reloaded = await this.#reload();
      if (reloaded.problems.length) return { ok: false, status: 'conflict', problems: [writtenButInvalid(), ...reloaded.problems] };
      return { ok: true };
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#watcher?.close();
    if (this.#poller) clearInterval(this.#poller);
    if (this.#debounce) clearTimeout(this.#debounce);
    await this.#queue.catch(() => {});
  }

  /** The file holding only `entry`, which may be rewritten or removed; otherwise the problem saying why not. */
  async #ownFile(entry: Entry): Promise<string | Problem> {
    const { file } = entry.source;
    const what = { kind: entry.resource.kind, ref: entry.resource.ref };
    if (!file) return { ...what, message: 'has no file to change' };
    if (entry.source.convertedFrom) return { ...what, file, line: entry.source.line, message: `comes from a ${entry.source.convertedFrom} document: convert ${file} to v2beta1 (routr resources convert) first` };
    const parsed = parseYaml(await readFile(file, 'utf8'), { file });
    if (parsed.documents.length !== 1) return { ...what, file, line: entry.source.line, message: `shares ${file} with other documents: edit that file instead (routr would lose its comments)` };
    return file;
  }

  async #newFile(entry: Entry): Promise<string | Problem> {
    const file = join(this.path!, `${entry.resource.kind.toLowerCase()}-${entry.resource.ref}.yaml`);
    const exists = await stat(file).then(() => true, () => false);
    if (exists) return { kind: entry.resource.kind, ref: entry.resource.ref, file, message: `${file} already exists and holds something else: move it away first` };
    return file;
  }

  #watch(options: FilesStoreOptions): void {
    const schedule = () => {
      if (this.#closed) return;
      if (this.#debounce) clearTimeout(this.#debounce);
      this.#debounce = setTimeout(() => void this.reload().catch((err: unknown) => this.#logger.error({ err }, 'resources reload failed')), options.debounceMs ?? 150);
    };
    try {
      this.#watcher = watch(this.path!, { recursive: true }, schedule);
      this.#watcher.on('error', (err) => this.#logger.warn({ err, path: this.path }, 'resources watch failed; polling only'));
    } catch (err) {
      this.#logger.warn({ err, path: this.path }, 'cannot watch the resources directory; polling only');
    }
    const pollMs = options.pollMs ?? 5000;
    if (pollMs > 0) {
      this.#poller = setInterval(() => {
        void signature(this.path!).then((s) => s !== this.#signature && schedule(), () => {});
      }, pollMs);
      this.#poller.unref();
    }
  }

  #swap(set: ResourceSet): void {
    const previous = this.#set;
    this.#set = set;
    this.#listeners.emit(set, previous, (err) => this.#logger.error({ err }, 'resources change listener threw'));
  }

  #logWarnings(warnings: Problem[]): void {
    for (const w of warnings) this.#logger.warn({ path: this.path }, formatProblem(w));
  }

  #serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => {});
    return run;
  }
}

async function load(path: string): Promise<{ set: ResourceSet; problems: Problem[]; warnings: Problem[] }> {
  const read = await readResourcePath(path);
  const checked = validateDocuments(read.documents, { servers: 'skip' });
  const problems = sortProblems([...read.problems, ...checked.problems]);
  return { set: problems.length ? ResourceSet.EMPTY : new ResourceSet(checked.entries), problems, warnings: checked.warnings };
}

/** Names, sizes and modification times of every resource file: a cheap "did anything change". */
async function signature(path: string): Promise<string> {
  const files = await listFiles(path).catch(() => []);
  const parts = await Promise.all(files.map(async (f) => stat(f).then((s) => `${f}:${s.size}:${s.mtimeMs}`, () => f)));
  return parts.join('\n');
}

function render(entry: Entry): string {
  const header = `# ${entry.resource.kind} ${entry.resource.ref}, written by routr resources apply; edit freely.\n`;
  return header + dump(entry.input ?? entry.resource, { lineWidth: -1 });
}

async function writeAtomically(file: string, text: string): Promise<void> {
  const temp = join(dirname(file), `.${basename(file)}.${pid}.tmp`);
  await writeFile(temp, text, { mode: 0o600 });
  await rename(temp, file);
}

function noPath(): Problem {
  return { message: 'no resources directory is configured (spec.resources.path or routr start --resources), so there is nowhere to write' };
}

function writtenButInvalid(): Problem {
  return { message: 'files were written, but the directory as a whole does not validate (another change at the same time?); the running set is unchanged' };
}
