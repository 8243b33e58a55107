/**
 * The `restful` provider (Routr v1's `restful_data_provider`): a read-only set fetched from an HTTP API.
 * Every `pollSeconds` (default 10) it GETs `<baseUrl>/<kind>` for each kind — `agents`, `domains`, `credentials`,
 * `numbers`, `trunks`, `peers`, `acls`, and v1's `gateways` and `dids` — with HTTP basic auth and
 * `If-None-Match` (a 304 reuses what that endpoint sent last). Each answer is a JSON list of resources (v2beta1,
 * Routr's own shapes or v1beta1, converted), or an object holding the list as `data` (Routr v1's API, whose
 * `meta.totalPages` pages are followed) or `items` (routr's own API). A 404 means the server has no such kind.
 *
 * The set is validated whole. A fetch that fails, or a set that does not validate, changes nothing: the last good
 * set keeps serving and the reason is logged with every problem. At startup there is no last good set, so
 * routr refuses to start. `apply` and `delete` answer conflict: the API is the source of truth.
 */
import type { Logger } from '../log.js';
import { formatProblem, ResourceError, type Problem } from './problems.js';
import { ResourceSet } from './set.js';
import { Listeners, type ApplyResult, type ChangeListener, type DeleteResult, type ResourceStore } from './store.js';
import type { Kind } from './types.js';
import { validateDocuments } from './validate.js';
import type { SourceDocument } from './yaml.js';

/** The endpoints read, in order. */
export const RESTFUL_ENDPOINTS = ['acls', 'credentials', 'domains', 'agents', 'peers', 'trunks', 'numbers', 'gateways', 'dids'] as const;
const MAX_PAGES = 100;

export interface RestfulStoreOptions {
  baseUrl: string;
  username?: string;
  /** The basic-auth password (Routr v1's `secret`). */
  secret?: string;
  /** Default 10. */
  pollSeconds?: number;
  /** Per request, default 5000. */
  timeoutMs?: number;
  logger: Logger;
}

interface Cached {
  etag?: string;
  documents: unknown[];
}

export class RestfulResourceStore implements ResourceStore {
  readonly provider = 'restful' as const;
  #set = ResourceSet.EMPTY;
  /** Why the last poll did not swap (empty after a good one). */
  problems: Problem[] = [];
  readonly #options: RestfulStoreOptions;
  readonly #logger: Logger;
  readonly #listeners = new Listeners();
  readonly #cache = new Map<string, Cached>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #polling: Promise<void> | undefined;
  #lastLogged = '';
  #closed = false;

  private constructor(options: RestfulStoreOptions) {
    this.#options = { ...options, baseUrl: options.baseUrl.replace(/\/+$/, '') };
    this.#logger = options.logger;
  }

  /** Fetch and validate the whole set; throws ResourceError when that fails (nothing to serve yet). */
  static async open(options: RestfulStoreOptions): Promise<RestfulResourceStore> {
    const store = new RestfulResourceStore(options);
    const fetched = await store.#fetchAll();
    if (!fetched.set) throw new ResourceError(`cannot load resources from ${store.#options.baseUrl}`, fetched.problems);
    store.#set = fetched.set;
    options.logger.info({ baseUrl: store.#options.baseUrl, resources: fetched.set.size }, 'resources loaded');
    store.#schedule();
    return store;
  }

  current(): ResourceSet {
    return this.#set;
  }

  onChange(listener: ChangeListener): () => void {
    return this.#listeners.add(listener);
  }

  async apply(_documents: SourceDocument[]): Promise<ApplyResult> {
    return { ok: false, status: 'conflict', problems: [this.#readOnly()], warnings: [] };
  }

  async delete(kind: Kind, ref: string): Promise<DeleteResult> {
    return { ok: false, status: 'conflict', problems: [{ kind, ref, ...this.#readOnly() }] };
  }

  /** Poll now (tests, and the timer); resolves when the poll is done, whatever it found. */
  poll(): Promise<void> {
    this.#polling ??= this.#poll().finally(() => (this.#polling = undefined));
    return this.#polling;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#polling?.catch(() => {});
  }

  #readOnly(): Problem {
    return { message: `the restful provider is read-only: change the resources at ${this.#options.baseUrl}, routr picks them up within ${this.#pollSeconds} s` };
  }

  get #pollSeconds(): number {
    return this.#options.pollSeconds ?? 10;
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => void this.poll().finally(() => this.#schedule()), this.#pollSeconds * 1000);
    this.#timer.unref?.();
  }

  async #poll(): Promise<void> {
    const fetched = await this.#fetchAll();
    this.problems = fetched.problems;
    if (!fetched.set) {
      const text = fetched.problems.map(formatProblem).join('\n');
      if (text !== this.#lastLogged) this.#logger.error({ baseUrl: this.#options.baseUrl, problems: fetched.problems.map(formatProblem) }, 'resources not updated: the last good set stays in place');
      this.#lastLogged = text;
      return;
    }
    if (this.#lastLogged) this.#logger.info({ baseUrl: this.#options.baseUrl }, 'resources fetched and valid again');
    this.#lastLogged = '';
    if (fetched.set.digest === this.#set.digest) return;
    const previous = this.#set;
    this.#set = fetched.set;
    this.#logger.info({ baseUrl: this.#options.baseUrl, resources: fetched.set.size }, 'resources updated');
    this.#listeners.emit(fetched.set, previous, (err) => this.#logger.error({ err }, 'resources change listener threw'));
  }

  /** Every endpoint, then the whole set validated; `set` only when all of it worked. */
  async #fetchAll(): Promise<{ set?: ResourceSet; problems: Problem[] }> {
    const documents: SourceDocument[] = [];
    const problems: Problem[] = [];
    for (const endpoint of RESTFUL_ENDPOINTS) {
      const url = `${this.#options.baseUrl}/${endpoint}`;
      try {
        const items = await this.#fetchEndpoint(endpoint, url);
        items.forEach((value, i) => documents.push({ value, source: { file: `${url}#${i}` } }));
      } catch (err) {
        problems.push({ file: url, message: (err as Error).message });
      }
    }
    if (problems.length) return { problems };
    const checked = validateDocuments(documents, { servers: 'refuse' });
    if (!checked.ok) return { problems: checked.problems };
    return { set: new ResourceSet(checked.entries), problems: [] };
  }

  async #fetchEndpoint(endpoint: string, url: string): Promise<unknown[]> {
    const cached = this.#cache.get(endpoint);
    const first = await this.#get(url, cached?.etag);
    if (first.status === 304 && cached) return cached.documents;
    if (first.status === 404) {
      this.#cache.delete(endpoint);
      return [];
    }
    const documents = listOf(first.body);
    // Routr v1's API pages its lists: { data, meta: { currentPage, totalPages } }.
    const pages = Math.min(pageCount(first.body), MAX_PAGES);
    for (let page = 2; page <= pages; page++) {
      const next = await this.#get(`${url}${url.includes('?') ? '&' : '?'}page=${page}`);
      documents.push(...listOf(next.body));
    }
    this.#cache.set(endpoint, { etag: first.etag, documents });
    return documents;
  }

  async #get(url: string, etag?: string): Promise<{ status: number; body?: unknown; etag?: string }> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#options.username !== undefined || this.#options.secret !== undefined) {
      headers.authorization = `Basic ${btoa(`${this.#options.username ?? ''}:${this.#options.secret ?? ''}`)}`;
    }
    if (etag) headers['if-none-match'] = etag;
    let res: Response;
    try {
      res = await fetch(url, { headers, signal: AbortSignal.timeout(this.#options.timeoutMs ?? 5000), redirect: 'error' });
    } catch (err) {
      const cause = (err as Error & { cause?: Error }).cause;
      throw new Error(`GET failed: ${cause?.message ?? (err as Error).message}`);
    }
    if (res.status === 304 || res.status === 404) {
      await res.body?.cancel();
      return { status: res.status };
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new Error(`GET answered ${res.status}${res.status === 401 || res.status === 403 ? ' (check username and secret)' : ''}`);
    }
    let body: unknown;
    try {
      body = await res.json();
    } catch {
      throw new Error('GET answered 200 with a body that is not JSON');
    }
    if (!Array.isArray(body) && !Array.isArray((body as { data?: unknown } | null)?.data) && !Array.isArray((body as { items?: unknown } | null)?.items)) {
      throw new Error('GET answered 200 with JSON that is not a list of resources (nor {data: [...]} or {items: [...]})');
    }
    return { status: 200, body, etag: res.headers.get('etag') ?? undefined };
  }
}

function listOf(body: unknown): unknown[] {
  if (Array.isArray(body)) return [...body];
  const wrapped = body as { data?: unknown; items?: unknown };
  return Array.isArray(wrapped.data) ? [...wrapped.data] : Array.isArray(wrapped.items) ? [...wrapped.items] : [];
}

function pageCount(body: unknown): number {
  const total = (body as { meta?: { totalPages?: unknown } } | null)?.meta?.totalPages;
  return typeof total === 'number' && Number.isInteger(total) && total > 1 ? total : 1;
}
