/**
 * The Message Router: picks the processor for a request. Candidates are the processors whose `methods`
 * include the request's method, non-fallback ones in configuration order and fallback ones after them;
 * the first whose matchFunc returns truthy wins. matchFunc sources are operator code: they are compiled and
 * run only inside one sandbox (never by eval in the host), with a per-call time limit. No candidate → 405
 * with an Allow header listing every method some processor takes.
 */
import { SipError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Sandbox, SandboxEngine } from '../../sandbox/types.js';
import { SandboxCompileError } from '../../sandbox/types.js';

export interface Route {
  ref: string;
  methods?: string[];
  matchFunc?: string;
  isFallback: boolean;
}

export class RouterConfigError extends Error {
  override name = 'RouterConfigError';
}

export class Router<R extends Route> {
  readonly #ordered: R[];
  readonly #sandbox: Sandbox | undefined;
  readonly #allow: string;
  /** Sandbox index of each route's matchFunc, -1 when it has none (always matches). */
  readonly #matcherIndex: Map<R, number>;

  private constructor(ordered: R[], sandbox: Sandbox | undefined, matcherIndex: Map<R, number>) {
    this.#ordered = ordered;
    this.#sandbox = sandbox;
    this.#matcherIndex = matcherIndex;
    const methods = new Set<string>();
    for (const r of ordered) for (const m of r.methods ?? ALL_METHODS) methods.add(m);
    this.#allow = [...methods].join(', ');
  }

  static async create<R extends Route>(routes: R[], options: { engine: SandboxEngine; timeoutMs: number; logger: Logger }): Promise<Router<R>> {
    const ordered = [...routes.filter((r) => !r.isFallback), ...routes.filter((r) => r.isFallback)];
    const withMatch = ordered.filter((r) => r.matchFunc !== undefined);
    const matcherIndex = new Map<R, number>(ordered.map((r) => [r, withMatch.indexOf(r)]));
    if (withMatch.length === 0) return new Router(ordered, undefined, matcherIndex);
    const limits = { timeoutMs: options.timeoutMs, memoryMb: 32 };
    // Compile each matchFunc alone first so a syntax error names its processor.
    for (const route of withMatch) {
      try {
        const probe = await options.engine.create({ name: `matchFunc:${route.ref}`, source: matcherModule([route.matchFunc as string]), filename: `matchFunc:${route.ref}`, limits });
        probe.dispose();
      } catch (err) {
        const detail = err instanceof SandboxCompileError ? err.message : String(err);
        throw new RouterConfigError(`processor "${route.ref}": matchFunc does not compile: ${detail}`, { cause: err });
      }
    }
    const sandbox = await options.engine.create({
      name: 'router',
      source: matcherModule(withMatch.map((r) => r.matchFunc as string)),
      filename: 'router',
      limits,
    });
    return new Router(ordered, sandbox, matcherIndex);
  }

  get allow(): string {
    return this.#allow;
  }

  /**
   * The processor for a request, given its method and the envelope as JSON text. Throws SipError 405 when
   * nothing matches; sandbox failures (a looping matchFunc) propagate to the caller as they are.
   */
  select(method: string, envelopeJson: string): R {
    const candidates = this.#ordered.filter((r) => !r.methods || r.methods.includes(method));
    const indexOf = (r: R) => this.#matcherIndex.get(r) ?? -1;
    // Routes without a matchFunc always match, so nothing after the first of them needs asking.
    const catchAll = candidates.findIndex((r) => indexOf(r) < 0);
    const asked = (catchAll < 0 ? candidates : candidates.slice(0, catchAll)).map(indexOf);
    if (asked.length > 0 && this.#sandbox) {
      const picked = Number(this.#sandbox.callSync('match', `{"candidates":${JSON.stringify(asked)},"request":${envelopeJson}}`));
      const route = picked >= 0 ? candidates.find((r) => indexOf(r) === picked) : undefined;
      if (route) return route;
    }
    if (catchAll >= 0) return candidates[catchAll];
    throw new SipError('ROUTR_METHOD_NOT_ALLOWED', `no processor matches ${method}`, { headers: { Allow: this.#allow } });
  }

  dispose(): void {
    this.#sandbox?.dispose();
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
