/**
 * The Message Router: picks the processor for a request. Candidates are the processors whose `methods`
 * include the request's method, non-fallback ones in configuration order and fallback ones after them;
 * the first whose matchFunc returns truthy wins. matchFunc sources are operator code: they are compiled and
 * run only inside one sandbox (never by eval in the host), with a per-call time limit. No candidate → 405
 * with an Allow header listing every method some processor takes.
 *
 * A route that is unavailable (its circuit breaker is open, or its plugin is disabled) is skipped, so the request
 * falls through to the next candidate or the fallback; when nothing else matches, 503. The candidate list per
 * method is computed once and cached; `invalidate()` (on any availability change) drops the cache, so the
 * per-request cost does not grow with breaker bookkeeping.
 */
import { SipError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Sandbox, SandboxEngine } from '../../sandbox/types.js';
import { SandboxCompileError } from '../../sandbox/types.js';

/** A route as the router sees it: its routing fields are read once, at `create`; `available` on every plan. */
export interface RouteSpec<R> {
  route: R;
  ref: string;
  methods?: string[];
  matchFunc?: string;
  isFallback: boolean;
}

export interface Availability {
  /** false: skip this route (breaker open, plugin disabled). */
  readonly available: boolean;
}

export class RouterConfigError extends Error {
  override name = 'RouterConfigError';
}

interface Plan<R> {
  /** Matcher indexes to ask, in order (routes before the first catch-all). */
  asked: number[];
  /** `{"candidates":[...],"request":` — the request JSON and a closing brace follow. */
  prefix: string;
  catchAll: R | undefined;
  /** Some candidate was skipped as unavailable. */
  skipped: boolean;
}

/** Methods are request data: cache plans for this many at most, so garbage methods cannot grow the cache. */
const MAX_PLANS = 64;

export class Router<R extends Availability> {
  readonly #ordered: RouteSpec<R>[];
  readonly #matchers: MatcherSet | undefined;
  readonly #matcherIndex: Map<RouteSpec<R>, number>;
  /** Route of each matcher index. */
  readonly #byMatcher: R[] = [];
  readonly #allow: string;
  readonly #plans = new Map<string, Plan<R>>();
  readonly #retryAfter: string;

  private constructor(ordered: RouteSpec<R>[], matchers: MatcherSet | undefined, matcherIndex: Map<RouteSpec<R>, number>, retryAfterSeconds: number) {
    this.#ordered = ordered;
    this.#matchers = matchers;
    this.#matcherIndex = matcherIndex;
    for (const [spec, index] of matcherIndex) if (index >= 0) this.#byMatcher[index] = spec.route;
    const methods = new Set<string>();
    for (const r of ordered) for (const m of r.methods ?? ALL_METHODS) methods.add(m);
    this.#allow = [...methods].join(', ');
    this.#retryAfter = String(retryAfterSeconds);
  }

  static async create<R extends Availability>(
    routes: RouteSpec<R>[],
    options: { engine: SandboxEngine; timeoutMs: number; logger: Logger; retryAfterSeconds?: number },
  ): Promise<Router<R>> {
    const ordered = [...routes.filter((r) => !r.isFallback), ...routes.filter((r) => r.isFallback)];
    const withMatch = ordered.filter((r) => r.matchFunc !== undefined);
    const matcherIndex = new Map<RouteSpec<R>, number>(ordered.map((r) => [r, withMatch.indexOf(r)]));
    const matchers = withMatch.length === 0 ? undefined : await MatcherSet.create(withMatch, { ...options, name: 'router', what: 'processor' });
    return new Router(ordered, matchers, matcherIndex, options.retryAfterSeconds ?? 5);
  }

  get allow(): string {
    return this.#allow;
  }

  /** Availability changed somewhere: plan again on the next request. */
  invalidate(): void {
    this.#plans.clear();
  }

  /**
   * The processor for a request, given its method and the envelope as JSON text. Throws SipError 405 when
   * nothing matches (503 when an unavailable route was skipped); sandbox failures (a looping matchFunc)
   * propagate to the caller as they are.
   */
  select(method: string, envelopeJson: string): R {
    const plan = this.#plans.get(method) ?? this.#plan(method);
    if (plan.asked.length > 0 && this.#matchers) {
      const picked = this.#matchers.first(plan.prefix, envelopeJson);
      if (picked >= 0) return this.#byMatcher[picked];
    }
    if (plan.catchAll !== undefined) return plan.catchAll;
    if (plan.skipped) {
      throw new SipError('ROUTR_SERVICE_UNAVAILABLE', `the processors for ${method} are unavailable (circuit open or disabled)`, { headers: { 'Retry-After': this.#retryAfter } });
    }
    throw new SipError('ROUTR_METHOD_NOT_ALLOWED', `no processor matches ${method}`, { headers: { Allow: this.#allow } });
  }

  #plan(method: string): Plan<R> {
    const all = this.#ordered.filter((r) => !r.methods || r.methods.includes(method));
    const candidates = all.filter((r) => r.route.available);
    const indexOf = (r: RouteSpec<R>) => this.#matcherIndex.get(r) ?? -1;
    // Routes without a matchFunc always match, so nothing after the first of them needs asking.
    const catchAll = candidates.findIndex((r) => indexOf(r) < 0);
    const asked = (catchAll < 0 ? candidates : candidates.slice(0, catchAll)).map(indexOf);
    const plan: Plan<R> = {
      asked,
      prefix: `{"candidates":${JSON.stringify(asked)},"request":`,
      catchAll: catchAll < 0 ? undefined : candidates[catchAll].route,
      skipped: candidates.length < all.length,
    };
    if (this.#plans.size < MAX_PLANS) this.#plans.set(method, plan);
    return plan;
  }

  dispose(): void {
    this.#matchers?.dispose();
  }
}

/**
 * matchFunc expressions compiled into one sandbox. Each is first compiled alone so a syntax error names its
 * route. `first` asks candidates in order and returns the first matching index, or -1.
 */
export class MatcherSet {
  readonly #sandbox: Sandbox;

  private constructor(sandbox: Sandbox) {
    this.#sandbox = sandbox;
  }

  static async create(
    routes: Array<{ ref: string; matchFunc?: string }>,
    options: { engine: SandboxEngine; timeoutMs: number; name: string; what: 'processor' | 'middleware' },
  ): Promise<MatcherSet> {
    const limits = { timeoutMs: options.timeoutMs, memoryMb: 32 };
    for (const route of routes) {
      try {
        const probe = await options.engine.create({ name: `matchFunc:${route.ref}`, source: matcherModule([route.matchFunc as string]), filename: `matchFunc:${route.ref}`, limits });
        probe.dispose();
      } catch (err) {
        const detail = err instanceof SandboxCompileError ? err.message : String(err);
        throw new RouterConfigError(`${options.what} "${route.ref}": matchFunc does not compile: ${detail}`, { cause: err });
      }
    }
    const sandbox = await options.engine.create({
      name: options.name,
      source: matcherModule(routes.map((r) => r.matchFunc as string)),
      filename: options.name,
      limits,
    });
    return new MatcherSet(sandbox);
  }

  /** `prefix` is `{"candidates":[i, j, ...],"request":`; the first candidate whose matchFunc is truthy, or -1. */
  first(prefix: string, envelopeJson: string): number {
    return Number(this.#sandbox.callSync('match', prefix + envelopeJson + '}'));
  }

  dispose(): void {
    this.#sandbox.dispose();
  }
}

const ALL_METHODS = ['INVITE', 'ACK', 'BYE', 'CANCEL', 'REGISTER', 'OPTIONS', 'INFO', 'UPDATE', 'PRACK', 'SUBSCRIBE', 'NOTIFY', 'REFER', 'MESSAGE', 'PUBLISH'];

/** The router module: matchFunc expressions in an array, and `match` that asks the candidates in order. */
function matcherModule(sources: string[]): string {
  const list = sources.map((s, i) => `/* ${i} */ (${s}\n)`).join(',\n');
  return `const matchers = [\n${list}\n];
export function match(input) {
  for (const i of input.candidates) {
    if (matchers[i](input.request)) return i;
  }
  return -1;
}
`;
}
