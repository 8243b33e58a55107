/**
 * Processor and middleware configs kept in a file of their own. In the server config, `config: { file: ./r3.json }`
 * (`file` the only key; relative to the server config file) stands for the document in that file: the host reads
 * and parses it — plugins cannot read files — and gives it to the plugin as if it were written inline. Big tables
 * (an R3 document with 100,000 map entries) are better kept there than in the server config.
 *
 * `.json` files are parsed with JSON.parse (7.5 MB in ≈ 0.1 s); when that fails, and for every other file, with the
 * YAML loader, which also takes JSON as people paste it (a trailing comma, as in the R3 seed) and says on which
 * line a mistake is. The loader watches the files (plus a poll, for filesystems without events) and
 * applies a change the way it applies a hot swap: the merged config is checked against the configSchema and
 * compiled in a fresh sandbox before it serves; a file that fails keeps the running config, logged with every
 * problem.
 */
import { createHash } from '../runtime/crypto.js';
import { basename, dirname, extname, readFileSync, resolve, statSync, watch, type FSWatcher } from '../runtime/files.js';
import { load, YAMLException } from 'js-yaml';
import { configFileOf } from '../config/server.js';
import type { Logger } from '../log.js';
import { PluginError } from '../plugins/bundle.js';


export { configFileOf };

export interface ConfigFile {
  config: Record<string, unknown>;
  /** sha256 of the file's bytes: tells a real change from a touch. */
  digest: string;
}

/** Read and parse a config file; PluginError naming the file (and the line, for syntax errors) otherwise. */
export function readConfigFile(file: string): ConfigFile {
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new PluginError(`config file ${path}: cannot read: ${(err as Error).message}`, { cause: err });
  }
  const digest = createHash('sha256').update(text).digest('hex');
  let document: unknown;
  try {
    document = parse(text, path);
  } catch (err) {
    if (err instanceof YAMLException) {
      const where = err.mark ? `:${err.mark.line + 1}:${err.mark.column + 1}` : '';
      throw new PluginError(`config file ${path}${where}: syntax error: ${err.reason}`, { cause: err });
    }
    throw new PluginError(`config file ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (document === null || typeof document !== 'object' || Array.isArray(document)) {
    throw new PluginError(`config file ${path}: must hold one object (a mapping), not ${Array.isArray(document) ? 'a list' : JSON.stringify(document)}`);
  }
  return { config: document as Record<string, unknown>, digest };
}

function parse(text: string, path: string): unknown {
  if (extname(path).toLowerCase() === '.json') {
    try {
      return JSON.parse(text);
    } catch {
      // Not strict JSON (a trailing comma, as the R3 seed has): YAML takes it, or says where it is wrong.
    }
  }
  return load(text, { filename: path });
}

export interface ConfigFileWatchOptions {
  logger: Logger;
  /** Quiet time after a change before reading, in ms (default 150): editors write in bursts. */
  debounceMs?: number;
  /** Also compare size, time and inode this often, in ms (default 2000; 0: never). */
  pollMs?: number;
}

/**
 * Calls `onChange(file)` after a file may have changed: a watch on its directory (editors replace files by
 * renaming, which a watch on the file itself would miss) and a poll of its stat. The caller reads the file and
 * decides by its digest whether anything changed.
 */
export class ConfigFileWatch {
  readonly #watchers: FSWatcher[] = [];
  readonly #timers = new Map<string, ReturnType<typeof setTimeout>>();
  readonly #stats = new Map<string, string>();
  readonly #poller: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(files: string[], onChange: (file: string) => void, options: ConfigFileWatchOptions) {
    const paths = [...new Set(files.map((f) => resolve(f)))];
    const schedule = (file: string) => {
      if (this.#closed) return;
      clearTimeout(this.#timers.get(file));
      const timer = setTimeout(() => {
        this.#timers.delete(file);
        if (!this.#closed) onChange(file);
      }, options.debounceMs ?? 150);
      timer.unref();
      this.#timers.set(file, timer);
    };
    for (const dir of new Set(paths.map((p) => dirname(p)))) {
      const inDir = paths.filter((p) => dirname(p) === dir);
      try {
        const watcher = watch(dir, (_event, name) => {
          for (const file of inDir) if (name === null || name === basename(file)) schedule(file);
        });
        watcher.on('error', (err) => options.logger.warn({ err, dir }, 'config file watch failed; polling only'));
        this.#watchers.push(watcher);
      } catch (err) {
        options.logger.warn({ err, dir }, 'cannot watch the config file directory; polling only');
      }
    }
    for (const file of paths) this.#stats.set(file, statKey(file));
    const pollMs = options.pollMs ?? 2000;
    if (pollMs > 0) {
      this.#poller = setInterval(() => {
        for (const file of paths) {
          const key = statKey(file);
          if (key !== this.#stats.get(file)) {
            this.#stats.set(file, key);
            schedule(file);
          }
        }
      }, pollMs);
      this.#poller.unref();
    }
  }

  close(): void {
    this.#closed = true;
    for (const watcher of this.#watchers) watcher.close();
    for (const timer of this.#timers.values()) clearTimeout(timer);
    if (this.#poller) clearInterval(this.#poller);
  }
}

function statKey(file: string): string {
  try {
    const s = statSync(file);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return 'absent';
  }
}
