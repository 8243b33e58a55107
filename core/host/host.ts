/**
 * The processor host: takes request envelopes off the bus, runs the pre middlewares, asks the router which
 * processor handles each request, runs it, runs the post middlewares, and replies with a decision — or with an
 * error status when any of it fails. `handle()` is the whole pipeline without a bus, so tests can inject
 * envelopes directly (as fastify's inject does).
 *
 * Each configured processor and middleware is a slot (slot.ts) whose plugin version can be replaced while
 * requests run: `sync(pluginRef)` reconciles the slots with the plugin store (hot swap, enable, disable) and is
 * what the store watch and the management API call. Building slots and their versions lives in `loader.ts`.
 *
 * The per-request path stays lean: with no middlewares it is the router's cached plan, one sandbox call and a
 * counter; breaker bookkeeping is O(1) and availability changes re-plan routing once, not per request.
 */
import type { AppRuntime } from '../apps/index.js';
import type { Bus, Subscription } from '../bus/types.js';
import { HOSTS_QUEUE, PROCESS_SUBJECT } from '../bus/subjects.js';
import type { Decision, HostReply } from '../envelope.js';
import { SipError, toResponseSpec } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { SandboxError } from '../../sandbox/types.js';
import { defaultCapabilities } from '../capabilities/index.js';
import { kindOf } from './instance.js';
import { SlotLoader, type HostOptions, type Pipeline, type ProcessorRoute, type SyncOutcome } from './loader.js';
import type { LoadedPlugin } from '../plugins/bundle.js';
import { inScope, RequestScope } from '../capabilities/request-scope.js';
import type { SlotKind, SlotState } from './slot.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/**
 * Besides watching the store, a host re-reads it this often: a watch that missed an event (a reconnect at the
 * wrong moment) then costs a delay, not a host that never converges. One store read per plugin in use.
 */
const RESYNC_MS = 60_000;

export type { HostOptions, SyncOutcome } from './loader.js';

/** What `routr plugin list` shows per slot. */
export interface SlotStatus {
  ref: string;
  kind: SlotKind;
  plugin: string;
  version: string;
  origin: string;
  state: SlotState;
  calls: number;
  failures: number;
  consecutiveFailures: number;
  refusal?: string;
}

export class ProcessorHost {
  readonly #loader: SlotLoader;
  readonly #apps: AppRuntime | undefined;
  readonly #logger: Logger;
  readonly #metrics: Metrics;
  readonly #name: string | undefined;
  #subscription: Subscription | undefined;
  #stopWatch: (() => Promise<void>) | undefined;
  #resync: ReturnType<typeof setInterval> | undefined;

  private constructor(loader: SlotLoader, options: HostOptions) {
    this.#loader = loader;
    this.#apps = options.apps;
    this.#logger = options.logger;
    this.#metrics = options.metrics;
    this.#name = options.name;
  }

  static async create(options: HostOptions): Promise<ProcessorHost> {
    const loader = await SlotLoader.create({ ...options, capabilities: options.capabilities ?? defaultCapabilities() });
    const host = new ProcessorHost(loader, options);
    if (options.store) {
      try {
        host.#stopWatch = await options.store.watch((ref) => {
          host.sync(ref).catch((err: unknown) => options.logger.warn({ plugin: ref, err }, 'plugin store change not applied'));
        });
      } catch (err) {
        host.dispose();
        throw err;
      }
      const resync = () => {
        for (const ref of loader.pluginRefs) {
          loader.sync(ref, { periodic: true }).catch((err: unknown) => options.logger.warn({ plugin: ref, err }, 'plugin store resync failed'));
        }
      };
      // At once too: a change between loading the slots and starting the watch was heard by nobody.
      resync();
      host.#resync = setInterval(resync, options.resyncMs ?? RESYNC_MS);
      host.#resync.unref();
    }
    return host;
  }

  get processors(): ReadonlyArray<{ ref: string; version: string }> {
    return this.#loader.slots.filter((s) => s.kind === 'processor').map((s) => ({ ref: s.ref, version: s.current.version }));
  }

  /** Every slot, for `routr plugin list`. */
  status(): SlotStatus[] {
    return this.#loader.slots.map((s) => ({
      ref: s.ref,
      kind: s.kind,
      plugin: s.plugin,
      version: s.current.version,
      origin: s.current.plugin.origin,
      state: s.state,
      calls: s.calls,
      failures: s.failures,
      consecutiveFailures: s.consecutiveFailures,
      ...(s.refusal ? { refusal: s.refusal } : {}),
    }));
  }

  /** Apply the store's state for one plugin to the slots running it (hot swap, enable/disable); serialized. */
  sync(pluginRef: string): Promise<SyncOutcome[]> {
    return this.#loader.sync(pluginRef);
  }

  /**
   * Check that a version would load here before it is installed: configs against its configSchema, kinds,
   * capabilities, and its fixtures in a fresh sandbox. Throws PluginError with the reason.
   */
  check(plugin: LoadedPlugin): Promise<void> {
    return this.#loader.check(plugin);
  }

  /** Serve decisions on the bus, in the hosts' queue group. */
  start(bus: Bus): void {
    this.#subscription = bus.serve(PROCESS_SUBJECT, (payload) => this.handle(payload), { queue: HOSTS_QUEUE });
  }

  /** One request envelope (JSON bytes) in, one reply (JSON bytes) out. Never rejects. */
  async handle(payload: Uint8Array): Promise<Uint8Array> {
    const reply = await this.decide(decoder.decode(payload));
    return encoder.encode(JSON.stringify(reply));
  }

  /**
   * Decide inside a request scope (request-scope.ts): capabilities may ask for a delay (password guessing) or
   * leave checks to finish first (nonce-counts claimed across hosts); a failed check replaces the decision.
   */
  async decide(envelopeJson: string): Promise<HostReply> {
    const scope = new RequestScope(envelopeJson);
    let reply = await this.#decide(envelopeJson, scope);
    if (scope.checks.length > 0) {
      for (const replacement of await Promise.all(scope.checks)) {
        if (replacement && 'decision' in reply) reply = { decision: replacement, processor: reply.processor };
      }
    }
    if (scope.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, scope.delayMs));
    return reply;
  }

  async #decide(envelopeJson: string, scope: RequestScope): Promise<HostReply> {
    // Captured once: a pipeline swapped in meanwhile serves the next request, not the rest of this one.
    const { router, chain }: Pipeline = this.#loader.pipeline;
    let ref = 'router';
    try {
      const method = methodOf(envelopeJson);
      let json = envelopeJson;
      if (chain !== undefined && chain.hasPre) {
        ref = 'middleware';
        const pre = await chain.runPre(method, json);
        if (typeof pre !== 'string') {
          this.#metrics.processorCalls.inc({ processor: pre.by, outcome: 'respond' });
          return { decision: pre.answer, processor: pre.by, host: this.#name };
        }
        json = pre;
        ref = 'router';
      }
      // A method with a request handler (web callback) is decided there, never by the processors (drachtio's rule).
      const handler = this.#apps?.handlers.for(method);
      let decidedBy: string;
      let decision: Decision;
      if (handler) {
        decidedBy = ref = `handler:${handler.label}`;
        decision = await handler.decide(method, json);
      } else {
        const slot = this.#route(router, method, json);
        decidedBy = ref = slot.ref;
        decision = await processOn(slot, json, method, scope);
      }
      if (chain !== undefined && chain.hasPost) {
        ref = 'middleware';
        decision = await chain.runPost(method, json, decision);
      }
      this.#metrics.processorCalls.inc({ processor: decidedBy, outcome: decision.action });
      if (decision.metadata !== undefined) this.#logDecision(decidedBy, json, decision);
      return { decision, processor: decidedBy, host: this.#name };
    } catch (err) {
      const spec = toResponseSpec(err);
      this.#metrics.processorCalls.inc({ processor: ref, outcome: 'error' });
      if (spec.status >= 500) this.#logger.warn({ processor: ref, err: err instanceof Error ? err.message : String(err) }, 'request failed');
      return { error: { status: spec.status, reason: spec.reason, code: spec.code, headers: spec.headers } };
    }
  }

  /** A decision that says why (its metadata): one debug line, so an operator can see why a call went where it went. */
  #logDecision(processor: string, envelopeJson: string, decision: Decision): void {
    if (!this.#logger.isLevelEnabled('debug')) return;
    const { ref } = JSON.parse(envelopeJson) as { ref?: unknown };
    const outcome = decision.action === 'forward' ? { targets: decision.targets?.map((t) => t.uri ?? null) } : { status: decision.status };
    this.#logger.debug({ processor, callId: ref, action: decision.action, ...outcome, metadata: decision.metadata }, 'decision');
  }

  #route(router: Pipeline['router'], method: string, envelopeJson: string): ProcessorRoute {
    try {
      return router.select(method, envelopeJson);
    } catch (err) {
      if (err instanceof SandboxError) this.#metrics.sandboxFailures.inc({ processor: 'router', kind: kindOf(err) });
      throw err;
    }
  }

  /** Stop taking requests; in-flight ones finish. */
  async drain(): Promise<void> {
    await this.#subscription?.drain();
    this.#subscription = undefined;
  }

  dispose(): void {
    clearInterval(this.#resync);
    void this.#stopWatch?.().catch(() => undefined);
    this.#stopWatch = undefined;
    this.#loader.dispose();
  }
}

/** Run the processor the router picked, on the instance current now; the slot's breaker hears how it went. */
async function processOn(slot: ProcessorRoute, json: string, method: string, scope: RequestScope): Promise<Decision> {
  const processor = slot.begin();
  try {
    const decision = await inScope(scope, () => processor.process(json, method));
    slot.end();
    return decision;
  } catch (err) {
    slot.end(err);
    throw err;
  }
}

const METHOD_PREFIX = '{"method":"';

/**
 * The request method from envelope JSON. Edges write `method` as the first key, so it is read off the front
 * (a full JSON.parse of every envelope here was ≈ 7% of a host's CPU: the sandbox parses it again anyway);
 * anything else is parsed properly.
 */
export function methodOf(envelopeJson: string): string {
  if (envelopeJson.startsWith(METHOD_PREFIX)) {
    const end = envelopeJson.indexOf('"', METHOD_PREFIX.length);
    const method = envelopeJson.slice(METHOD_PREFIX.length, end);
    if (end > 0 && /^[A-Za-z0-9.!%*_+`'~-]+$/.test(method)) return method;
  }
  const parsed = JSON.parse(envelopeJson) as { method?: unknown };
  if (typeof parsed.method !== 'string') throw new SipError('ROUTR_BAD_REQUEST', 'envelope without a method');
  return parsed.method;
}
