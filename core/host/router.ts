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
import type { SandboxEngine } from '../../sandbox/types.js';
import { MatcherGroups, type MatchOrigin } from './matchers.js';

export { RouterConfigError } from './matchers.js';

/** A route as the router sees it: its routing fields are read once, at `create`; `available` on every plan. */
export interface RouteSpec<R> {
  route: R;
  ref: string;
  methods?: string[];
  matchFunc?: string;
  /** Whose matchFunc it is (the operator's, or a plugin manifest's): each origin runs in its own sandbox. */
  matchOrigin?: MatchOrigin;
  isFallback: boolean;
}

export interface Availability {
  /** false: skip this route (breaker open, plugin disabled). */
  readonly available: boolean;
}

/** Consecutive candidates whose matchFuncs live in one sandbox: asked with one call. */
interface Segment<R> {
  group: number;
  /** `{"candidates":[...],"request":` — the request JSON and a closing brace follow. */
  prefix: string;
  /** Route by local index in the group. */
  routes: Map<number, R>;
}

interface Plan<R> {
  /** Candidates to ask, in order (routes before the first catch-all), as runs of one sandbox each. */
  asked: Array<Segment<R>>;
  catchAll: R | undefined;
  /** Some candidate was skipped as unavailable. */
  skipped: boolean;
}

/** Methods are request data: cache plans for this many at most, so garbage methods cannot grow the cache. */
const MAX_PLANS = 64;

export class Router<R extends Availability> {
  readonly #ordered: RouteSpec<R>[];
  readonly #matchers: MatcherGroups | undefined;
  readonly #matcherIndex: Map<RouteSpec<R>, number>;
  readonly #allow: string;
  readonly #plans = new Map<string, Plan<R>>();
  readonly #retryAfter: string;

  private constructor(ordered: RouteSpec<R>[], matchers: MatcherGroups | undefined, matcherIndex: Map<RouteSpec<R>, number>, retryAfterSeconds: number) {
    this.#ordered = ordered;
    this.#matchers = matchers;
    this.#matcherIndex = matcherIndex;
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
    const matchers =
      withMatch.length === 0
        ? undefined
        : await MatcherGroups.create(
            withMatch.map((r) => ({ ref: r.ref, matchFunc: r.matchFunc as string, origin: r.matchOrigin ?? { kind: 'operator' } })),
            { ...options, name: 'router', what: 'processor' },
          );
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
    if (this.#matchers) {
      for (const segment of plan.asked) {
        const picked = this.#matchers.first(segment.group, segment.prefix, envelopeJson);
        if (picked >= 0) return segment.routes.get(picked) as R;
      }
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
    const asked: Array<Segment<R>> = [];
    for (const r of catchAll < 0 ? candidates : candidates.slice(0, catchAll)) {
      const at = this.#matchers?.locate(indexOf(r));
      if (!at) continue;
      let segment = asked[asked.length - 1];
      if (!segment || segment.group !== at.group) asked.push((segment = { group: at.group, prefix: '', routes: new Map() }));
      segment.routes.set(at.index, r.route);
    }
    for (const segment of asked) segment.prefix = `{"candidates":${JSON.stringify([...segment.routes.keys()])},"request":`;
    const plan: Plan<R> = {
      asked,
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

const ALL_METHODS = ['INVITE', 'ACK', 'BYE', 'CANCEL', 'REGISTER', 'OPTIONS', 'INFO', 'UPDATE', 'PRACK', 'SUBSCRIBE', 'NOTIFY', 'REFER', 'MESSAGE', 'PUBLISH'];
