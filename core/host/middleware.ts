/**
 * Middlewares: plugins (`kind: Middleware`) run in order before routing (`stage: pre`) and after the processor's
 * decision (`stage: post`), each in its own sandbox with the same limits and containment as a processor.
 *
 * - pre: `onRequest(envelope, ctx)` returns `true`/undefined (go on), a respond decision (answer now: no
 *   routing, no processor, no post middlewares), or `{ metadata: {...} }`, merged into `envelope.metadata`
 *   for the stages after it (string values).
 * - post: `onDecision(envelope, decision, ctx)` returns undefined (keep) or a decision that replaces it for
 *   the middlewares after it and the edge; either is validated against the decision schema.
 *
 * A middleware that fails (throws, loops, returns garbage) is a 500 for that request. Its breaker opening does
 * not skip it — a middleware is often a gate (authentication, ACL, rate limit), and skipping it would open the
 * gate — so the requests it applies to get 503 until it recovers. A disabled middleware (`routr plugin disable`)
 * is skipped: that is the operator turning it off. With no middlewares configured the host never enters here.
 */
import type { Decision, RespondDecision } from '../envelope.js';
import { SipError } from '../errors.js';
import { MatcherGroups } from './matchers.js';
import { PluginInstance, type InstanceOptions } from './instance.js';
import { checkDecision, mayUseTrunkAuth, trunkAuthTargets } from './processor.js';
import type { LoadedPlugin } from '../plugins/bundle.js';
import type { PluginSlot } from './slot.js';
import type { SandboxEngine } from '../../sandbox/types.js';

// 'config' first: modules evaluate in import order, so the config is parsed before plugin code could touch JSON.
const SHIM = `import config from 'config';
import * as plugin from 'plugin';
const impl = plugin.default !== null && typeof plugin.default === 'object' ? plugin.default : plugin;
const context = { config };
const isThenable = (v) => v !== null && (typeof v === 'object' || typeof v === 'function') && typeof v.then === 'function';
function hook(name) {
  const fn = impl[name];
  if (typeof fn !== 'function') throw new Error('the middleware exports no ' + name + ' function');
  return fn;
}
function syncOnly(name, value) {
  if (isThenable(value)) {
    throw new Error(name + ' returned a Promise, but this plugin runs synchronously (spec.execution: sync): make it synchronous or declare spec.execution: async');
  }
  return value;
}
// init(ctx): once per sandbox build (and rebuild), before any request; a throw refuses the plugin. Synchronous.
if (typeof impl.init === 'function') syncOnly('init', impl.init.call(impl, context));
export function hooks() {
  return ['onRequest', 'onDecision'].filter((name) => typeof impl[name] === 'function');
}
export function preSync(request) {
  return syncOnly('onRequest', hook('onRequest').call(impl, request, context));
}
export async function pre(request) {
  return await hook('onRequest').call(impl, request, context);
}
export function postSync(input) {
  return syncOnly('onDecision', hook('onDecision').call(impl, input.request, input.decision, context));
}
export async function post(input) {
  return await hook('onDecision').call(impl, input.request, input.decision, context);
}
`;

/** What a pre middleware said: go on (undefined), answer, or add metadata. */
export type PreVerdict = undefined | RespondDecision | { metadata: Record<string, string> };

const HOOK_OF = { pre: 'onRequest', post: 'onDecision' } as const;
const METADATA_KEY = /^[A-Za-z0-9_.-]{1,64}$/;

export class Middleware extends PluginInstance {
  /** `stage` undefined (a compile check): the plugin must export at least one of the hooks. */
  static async create(options: InstanceOptions & { stage: 'pre' | 'post' | undefined }): Promise<Middleware> {
    const middleware = new Middleware(await PluginInstance.sandboxFor(SHIM, options), options);
    try {
      const hooks = await middleware.exportedHooks();
      const ref = options.plugin.manifest.ref;
      if (options.stage === undefined && hooks.length === 0) throw new Error(`plugin "${ref}" exports neither onRequest nor onDecision`);
      if (options.stage !== undefined && !hooks.includes(HOOK_OF[options.stage])) {
        throw new Error(`plugin "${ref}" exports no ${HOOK_OF[options.stage]} function, which a ${options.stage} middleware needs`);
      }
    } catch (err) {
      middleware.dispose();
      throw err;
    }
    return middleware;
  }

  async onRequest(envelopeJson: string): Promise<PreVerdict> {
    const text = await this.run('preSync', 'pre', envelopeJson);
    if (text === 'null' || text === 'true') return undefined;
    const verdict = this.#parse(text) as Record<string, unknown> | null;
    if (verdict !== null && typeof verdict === 'object' && 'action' in verdict) {
      const decision = checkDecision(verdict);
      if (typeof decision === 'string') this.fail('invalid_decision', new Error(`onRequest returned an invalid decision: ${decision}`));
      if (decision.action !== 'respond') this.fail('invalid_decision', new Error('onRequest may answer only with a respond decision'));
      return decision;
    }
    const problem = metadataProblem(verdict);
    if (problem) this.fail('invalid_decision', new Error(`onRequest must return true, undefined, a respond decision or { metadata }: ${problem}`));
    return verdict as { metadata: Record<string, string> };
  }

  async onDecision(envelopeJson: string, decision: Decision): Promise<Decision | undefined> {
    const text = await this.run('postSync', 'post', `{"request":${envelopeJson},"decision":${JSON.stringify(decision)}}`);
    if (text === 'null') return undefined;
    const trunkAuth = mayUseTrunkAuth(this.plugin.manifest.spec.capabilities) || trunkAuthTargets(decision);
    const checked = checkDecision(this.#parse(text), { trunkAuth });
    if (typeof checked === 'string') this.fail('invalid_decision', new Error(`onDecision returned an invalid decision: ${checked}`));
    return checked;
  }

  #parse(text: string): unknown {
    try {
      return JSON.parse(text);
    } catch (err) {
      this.fail('result', err);
    }
  }
}

function metadataProblem(verdict: unknown): string | undefined {
  if (verdict === null || typeof verdict !== 'object' || Array.isArray(verdict)) return `got ${JSON.stringify(verdict)?.slice(0, 100)}`;
  const keys = Object.keys(verdict);
  if (keys.length !== 1 || keys[0] !== 'metadata') return `unexpected keys ${keys.join(', ')}`;
  const metadata = (verdict as { metadata: unknown }).metadata;
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) return 'metadata must be an object';
  const entries = Object.entries(metadata);
  if (entries.length > 32) return 'at most 32 metadata keys';
  for (const [key, value] of entries) {
    if (!METADATA_KEY.test(key)) return `metadata key "${key.slice(0, 80)}" must match ${METADATA_KEY.source}`;
    if (typeof value !== 'string' || value.length > 1024) return `metadata "${key}" must be a string of at most 1024 characters`;
  }
  return undefined;
}

const EMPTY_METADATA_TAIL = '"metadata":{}}';

/** The envelope with `metadata` merged in. Edges write metadata last and empty, so usually a splice does. */
export function withMetadata(envelopeJson: string, metadata: Record<string, string>): string {
  if (envelopeJson.endsWith(EMPTY_METADATA_TAIL)) {
    return `${envelopeJson.slice(0, envelopeJson.length - EMPTY_METADATA_TAIL.length)}"metadata":${JSON.stringify(metadata)}}`;
  }
  const envelope = JSON.parse(envelopeJson) as { metadata?: Record<string, string> };
  envelope.metadata = { ...envelope.metadata, ...metadata };
  return JSON.stringify(envelope);
}

interface Link {
  slot: PluginSlot<Middleware>;
  methods: string[] | undefined;
  /** `{"candidates":[i],"request":` when the middleware has a matchFunc, and its matcher group. */
  prefix: string | undefined;
  group: number;
}

/** The pre and post chains with their matchFuncs (one sandbox per origin, see matchers.ts); rebuilt when routing changes. */
export class MiddlewareChain {
  readonly #pre: Link[];
  readonly #post: Link[];
  readonly #matchers: MatcherGroups | undefined;

  private constructor(pre: Link[], post: Link[], matchers: MatcherGroups | undefined) {
    this.#pre = pre;
    this.#post = post;
    this.#matchers = matchers;
  }

  /** `pluginOf` gives the version each slot will run (its routing defaults may differ from the current one's). */
  static async create(
    slots: PluginSlot<Middleware>[],
    options: { engine: SandboxEngine; timeoutMs: number; pluginOf: (slot: PluginSlot<Middleware>) => LoadedPlugin },
  ): Promise<MiddlewareChain> {
    const { pluginOf } = options;
    const withMatch = slots.filter((s) => s.matchFuncFor(pluginOf(s)) !== undefined);
    const matchers =
      withMatch.length === 0
        ? undefined
        : await MatcherGroups.create(
            withMatch.map((s) => ({ ref: s.ref, matchFunc: s.matchFuncFor(pluginOf(s)) as string, origin: s.matchOriginFor(pluginOf(s)) })),
            { engine: options.engine, timeoutMs: options.timeoutMs, name: 'middleware-router', what: 'middleware' },
          );
    const link = (slot: PluginSlot<Middleware>): Link => {
      const index = withMatch.indexOf(slot);
      const at = index < 0 ? undefined : matchers?.locate(index);
      return { slot, methods: slot.methodsFor(pluginOf(slot)), prefix: at ? `{"candidates":[${at.index}],"request":` : undefined, group: at?.group ?? -1 };
    };
    return new MiddlewareChain(slots.filter((s) => s.kind === 'pre').map(link), slots.filter((s) => s.kind === 'post').map(link), matchers);
  }

  get hasPre(): boolean {
    return this.#pre.length > 0;
  }

  get hasPost(): boolean {
    return this.#post.length > 0;
  }

  /** The envelope to route (with any metadata added), or the answer a middleware gave. */
  async runPre(method: string, envelopeJson: string): Promise<string | { answer: RespondDecision; by: string }> {
    let json = envelopeJson;
    for (const link of this.#pre) {
      if (!this.#applies(link, method, json)) continue;
      const verdict = await run(link.slot, (m) => m.onRequest(json));
      if (verdict === undefined) continue;
      if ('action' in verdict) return { answer: verdict, by: link.slot.ref };
      json = withMetadata(json, verdict.metadata);
    }
    return json;
  }

  async runPost(method: string, envelopeJson: string, decision: Decision): Promise<Decision> {
    let current = decision;
    for (const link of this.#post) {
      if (!this.#applies(link, method, envelopeJson)) continue;
      const replaced = await run(link.slot, (m) => m.onDecision(envelopeJson, current));
      if (replaced !== undefined) current = replaced;
    }
    return current;
  }

  #applies(link: Link, method: string, json: string): boolean {
    if (!link.slot.enabled) return false;
    if (link.methods !== undefined && !link.methods.includes(method)) return false;
    if (link.prefix !== undefined && this.#matchers !== undefined && this.#matchers.first(link.group, link.prefix, json) < 0) return false;
    if (!link.slot.breakerAllows) {
      throw new SipError('ROUTR_SERVICE_UNAVAILABLE', `middleware ${link.slot.ref} is unavailable (circuit open)`, { headers: { 'Retry-After': '5' } });
    }
    return true;
  }

  dispose(): void {
    this.#matchers?.dispose();
  }
}

async function run<T>(slot: PluginSlot<Middleware>, call: (m: Middleware) => Promise<T>): Promise<T> {
  const instance = slot.begin();
  try {
    const result = await call(instance);
    slot.end();
    return result;
  } catch (err) {
    slot.end(err);
    throw err;
  }
}
