/**
 * matchFuncs, compiled for the router and the middleware chain. Two rules keep one matchFunc from reaching
 * another:
 *
 * - **Each is exactly one function expression.** The source is parsed on its own (acorn, a JavaScript parser:
 *   no code runs) and refused unless it is one arrow or function expression, not async, not a generator — so
 *   `r => false), (r => true` (which spliced into a list would shift every matchFunc after it) is a
 *   configuration error naming its route, not a router that quietly routes to the wrong processor.
 * - **Each origin has its own sandbox.** The operator's matchFuncs (from the server config) share one; every
 *   plugin whose manifest supplies matchFuncs gets one of its own, so a plugin's matchFunc cannot change the
 *   globals the operator's (or another plugin's) run with.
 *
 * matchFuncs only ever run in sandboxes (never eval in the host); parsing is all the host does with them.
 */
import { parse } from 'acorn';
import type { Sandbox, SandboxEngine } from '../../sandbox/types.js';
import { SandboxCompileError } from '../../sandbox/types.js';

export class RouterConfigError extends Error {
  override name = 'RouterConfigError';
}

/** Where a matchFunc came from: the operator's config, or a plugin's manifest (its ref). */
export type MatchOrigin = { kind: 'operator' } | { kind: 'plugin'; plugin: string };

export interface MatchRoute {
  ref: string;
  matchFunc: string;
  origin: MatchOrigin;
}

/** undefined when `source` is exactly one (non-async, non-generator) function expression, else why not. */
export function matchFuncProblem(source: string): string | undefined {
  let program: ReturnType<typeof parse>;
  try {
    // Parenthesised as it is compiled: text that closes the parenthesis early shows up as more than one statement.
    program = parse(`(${source}\n)`, { ecmaVersion: 'latest', sourceType: 'script' });
  } catch (err) {
    return `does not compile: ${(err as Error).message}`;
  }
  if (program.body.length !== 1 || program.body[0].type !== 'ExpressionStatement') return 'it must be one function expression (e.g. "req => req.method === \'INVITE\'")';
  const expression = program.body[0].expression;
  if (expression.type !== 'ArrowFunctionExpression' && expression.type !== 'FunctionExpression') {
    return `it must be one function expression, not a ${expression.type === 'SequenceExpression' ? 'list of expressions' : expression.type}`;
  }
  if (expression.async) return 'it must not be async (a Promise is always truthy)';
  if (expression.generator) return 'it must not be a generator';
  return undefined;
}

function originKey(origin: MatchOrigin): string {
  return origin.kind === 'operator' ? 'operator' : `plugin:${origin.plugin}`;
}

/**
 * The matchFuncs of a router (or middleware chain), one sandbox per origin. `locate(i)` says where route `i`
 * (in the order given) lives; `first` asks candidates of one sandbox in order and returns the first matching
 * local index, or -1.
 */
export class MatcherGroups {
  readonly #sandboxes: Sandbox[];
  readonly #where: Array<{ group: number; index: number }>;

  private constructor(sandboxes: Sandbox[], where: Array<{ group: number; index: number }>) {
    this.#sandboxes = sandboxes;
    this.#where = where;
  }

  static async create(
    routes: MatchRoute[],
    options: { engine: SandboxEngine; timeoutMs: number; name: string; what: 'processor' | 'middleware' },
  ): Promise<MatcherGroups> {
    const limits = { timeoutMs: options.timeoutMs, memoryMb: 32 };
    const groups = new Map<string, string[]>();
    const where: Array<{ group: number; index: number }> = [];
    for (const route of routes) {
      const from = route.origin.kind === 'operator' ? 'the server config' : `the manifest of plugin "${route.origin.plugin}"`;
      const problem = matchFuncProblem(route.matchFunc);
      if (problem?.startsWith('does not compile')) throw new RouterConfigError(`${options.what} "${route.ref}": matchFunc ${problem} (from ${from})`);
      if (problem) throw new RouterConfigError(`${options.what} "${route.ref}": the matchFunc from ${from} is refused: ${problem}`);
      try {
        const probe = await options.engine.create({ name: `matchFunc:${route.ref}`, source: matcherModule([route.matchFunc]), filename: `matchFunc:${route.ref}`, limits });
        probe.dispose();
      } catch (err) {
        const detail = err instanceof SandboxCompileError ? err.message : String(err);
        throw new RouterConfigError(`${options.what} "${route.ref}": matchFunc does not compile: ${detail}`, { cause: err });
      }
      const key = originKey(route.origin);
      let list = groups.get(key);
      if (!list) groups.set(key, (list = []));
      where.push({ group: [...groups.keys()].indexOf(key), index: list.length });
      list.push(route.matchFunc);
    }
    const sandboxes: Sandbox[] = [];
    try {
      for (const [key, sources] of groups) {
        const name = `${options.name}:${key}`;
        sandboxes.push(await options.engine.create({ name, source: matcherModule(sources), filename: name, limits }));
      }
    } catch (err) {
      for (const s of sandboxes) s.dispose();
      throw err;
    }
    return new MatcherGroups(sandboxes, where);
  }

  locate(route: number): { group: number; index: number } {
    return this.#where[route];
  }

  /** `prefix` is `{"candidates":[i, j, ...],"request":` with local indexes of `group`. */
  first(group: number, prefix: string, envelopeJson: string): number {
    return Number(this.#sandboxes[group].callSync('match', prefix + envelopeJson + '}'));
  }

  dispose(): void {
    for (const s of this.#sandboxes) s.dispose();
  }
}

/** The matcher module: one constant per matchFunc (each checked to be one function expression), and `match`. */
function matcherModule(sources: string[]): string {
  const list = sources.map((s, i) => `/* ${i} */ (${s}\n)`).join(',\n');
  return `const matchers = Object.freeze([\n${list}\n]);
export function match(input) {
  for (const i of input.candidates) {
    if (matchers[i](input.request)) return i;
  }
  return -1;
}
`;
}
