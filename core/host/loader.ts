/**
 * Builds and replaces what the host runs: a slot per configured processor and middleware, each serving one
 * plugin version, and the pipeline (router + middleware chain) that routes requests to them.
 *
 * Where a version comes from: the plugin store's current version first, then `spec.host.pluginsDir`, then the
 * built-ins. Before any version serves — at start and on every hot swap — its fixtures pass in a fresh sandbox
 * (once per content digest on this host), its merged config satisfies its configSchema, and it compiles in the
 * fresh sandbox that will serve. A version that fails any of that is refused with the reason and the loaded one
 * keeps serving (at start, a failing store version falls back to the directory one).
 *
 * A config kept in a file (`config: { file: ... }`, see config-files.ts) is read at each build and watched: a
 * change rebuilds the slots using it through the same checks, and a file that fails keeps the running config.
 *
 * `sync` is serialized: one reconciliation at a time, so two swaps never race to rebuild the router. Swaps are
 * plain assignments on the event loop, so no request sees half of one. If a new version changes a slot's
 * default methods or matchFunc, a new pipeline is built first and replaced in the same step; the old one is
 * disposed after a grace period, since a request holding it may still be between two middlewares.
 */
import type { AppRuntime } from '../apps/index.js';
import type { AppRoute } from '../apps/route.js';
import type { ProcessorConfig, ServerConfig } from '../config/server.js';
import type { EventPublisher } from '../events/publisher.js';
import type { BreakerState } from './breaker.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { SandboxEngine } from '../../sandbox/types.js';
import { verifyPlugin } from './fixtures.js';
import { currentVersion, type PluginState, type PluginStore } from '../plugins/store.js';
import type { CapabilityRegistry } from '../capabilities/index.js';
import { ConfigFileWatch, configFileOf, readConfigFile } from './config-files.js';
import { cappedLimits, type PluginInstance } from './instance.js';
import { Middleware, MiddlewareChain } from './middleware.js';
import { findPluginDirOrUndefined, loadedFromBundle, loadPlugin, mergedConfig, PluginError, type LoadedPlugin } from '../plugins/bundle.js';
import { Processor } from './processor.js';
import { matchFuncProblem } from './matchers.js';
import { Router, type RouteSpec } from './router.js';
import { PluginSlot, SLOT_STATES, type SlotConfig, type SlotState } from './slot.js';

const DEFAULT_LIMITS = { timeoutMs: 500, memoryMb: 64 };
const DEFAULT_BREAKER = { failures: 5, coolDownMs: 30000 };
/** How long a replaced pipeline lives on for requests that captured it (longer than any sane call). */
const PIPELINE_GRACE_MS = 10_000;

/** What the router picks: a plugin slot, or a processor entry that names an app (core/apps). */
export type ProcessorRoute = PluginSlot<Processor> | AppRoute;

export interface Pipeline {
  router: Router<ProcessorRoute>;
  chain: MiddlewareChain | undefined;
}

export interface SyncOutcome {
  /** The processor or middleware entry. */
  ref: string;
  plugin: string;
  outcome: 'swapped' | 'unchanged' | 'refused' | 'kept';
  /** The version serving after the sync. */
  version: string;
  /** The entry's state after the sync (closed, open, half-open, disabled). */
  state: SlotState;
  reason?: string;
}

export interface HostOptions {
  config: ServerConfig['spec']['host'];
  engine: SandboxEngine;
  logger: Logger;
  metrics: Metrics;
  /** What plugins may call; default: `log` only. */
  capabilities?: CapabilityRegistry;
  /** Installed plugins: looked up before the plugins directory, and watched for changes. */
  store?: PluginStore;
  /** How often the store is re-read besides the watch (default 60 s). */
  resyncMs?: number;
  /** plugin.state events go here. */
  events?: EventPublisher;
  /** This host's name in replies and events (HostReply.host). */
  name?: string;
  /** Apps and request handlers (core/apps); needed when a processor entry names an app. */
  apps?: AppRuntime;
  /** Watching configs kept in files (`config: { file }`): debounce and poll intervals, in ms (tests). */
  configFiles?: { debounceMs?: number; pollMs?: number };
}

type LoaderOptions = HostOptions & { capabilities: CapabilityRegistry };

export class SlotLoader {
  readonly slots: PluginSlot[] = [];
  /** Processor entries that name an app: no plugin, no store, a breaker of their own. */
  readonly appRoutes: AppRoute[] = [];
  pipeline!: Pipeline;
  readonly #options: LoaderOptions;
  readonly #engine: SandboxEngine;
  readonly #logger: Logger;
  readonly #metrics: Metrics;
  readonly #store: PluginStore | undefined;
  /** Digests whose fixtures passed on this host. */
  readonly #verified = new Set<string>();
  /** Why a digest was refused here: a periodic resync does not try (and log) it again. */
  readonly #refused = new Map<string, string>();
  readonly #retiring = new Map<Pipeline, ReturnType<typeof setTimeout>>();
  /** The digest of the config file each instance was built from (instances of slots with `config: { file }`). */
  readonly #configDigests = new WeakMap<PluginInstance, string>();
  /** file → the digest last refused, so a poll does not log the same refusal again. */
  readonly #refusedConfigs = new Map<string, string>();
  #configWatch: ConfigFileWatch | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #disposed = false;

  private constructor(options: LoaderOptions) {
    this.#options = options;
    this.#engine = options.engine;
    this.#logger = options.logger;
    this.#metrics = options.metrics;
    this.#store = options.store;
  }

  static async create(options: LoaderOptions): Promise<SlotLoader> {
    const loader = new SlotLoader(options);
    try {
      for (const p of options.config.processors) {
        if (p.app !== undefined) loader.appRoutes.push(loader.#appRoute({ ...p, app: p.app }));
        else loader.slots.push(await loader.#createSlot({ ...p, kind: 'processor' }));
      }
      for (const m of options.config.middlewares ?? []) loader.slots.push(await loader.#createSlot({ ...m, kind: m.stage }));
      loader.pipeline = await loader.#buildPipeline(new Map());
      const files = loader.slots.map((slot) => configFileOf(slot.config.config)).filter((f): f is string => f !== undefined);
      if (files.length > 0) {
        loader.#configWatch = new ConfigFileWatch(files, (file) => void loader.reconfigure(file).catch(() => undefined), { logger: options.logger, ...options.configFiles });
      }
    } catch (err) {
      loader.dispose();
      throw err;
    }
    for (const slot of loader.slots) loader.#gauge(slot);
    return loader;
  }

  /** `periodic`: a safety-net resync, which skips versions already refused here. */
  sync(pluginRef: string, options: { periodic?: boolean } = {}): Promise<SyncOutcome[]> {
    const run = this.#queue.then(() => this.#sync(pluginRef, options.periodic ?? false));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Rebuild the slots whose config is `file` with what the file holds now (serialized with `sync`); a file that
   * fails to read, parse, satisfy the configSchema or compile leaves them serving the config they have.
   */
  reconfigure(file: string): Promise<SyncOutcome[]> {
    const run = this.#queue.then(() => this.#reconfigure(file));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Plugin refs some slot runs. */
  get pluginRefs(): string[] {
    return [...new Set(this.slots.map((s) => s.plugin))];
  }

  async check(plugin: LoadedPlugin): Promise<void> {
    // A manifest's default matchFunc must be one function expression, whether or not a slot uses it now.
    const matchFunc = plugin.manifest.spec.matchFunc;
    const problem = matchFunc === undefined ? undefined : matchFuncProblem(matchFunc);
    if (problem) throw new PluginError(`plugin "${plugin.manifest.ref}": spec.matchFunc ${problem.startsWith('does not compile') ? problem : `is refused: ${problem}`}`);
    for (const slot of this.slots) if (slot.plugin === plugin.manifest.ref) this.#preflight(slot.config, plugin);
    await this.#verify(plugin);
  }

  dispose(): void {
    this.#disposed = true;
    this.#configWatch?.close();
    for (const slot of this.slots) slot.dispose();
    for (const route of this.appRoutes) route.dispose();
    this.pipeline?.router.dispose();
    this.pipeline?.chain?.dispose();
    for (const [pipeline, timer] of this.#retiring) {
      clearTimeout(timer);
      pipeline.router.dispose();
      pipeline.chain?.dispose();
    }
    this.#retiring.clear();
  }

  async #sync(ref: string, periodic: boolean): Promise<SyncOutcome[]> {
    const slots = this.slots.filter((s) => s.plugin === ref);
    if (slots.length === 0 || this.#disposed) return [];
    const state = await this.#storeState(ref);
    const desired = (await this.#candidates(ref, state))[0];
    const outcomes: SyncOutcome[] = [];
    const built = new Map<PluginSlot, PluginInstance>();
    for (const slot of slots) {
      this.#applyState(slot, state);
      if (!desired) {
        outcomes.push(outcome(slot, 'kept', 'no version in the store or a plugins directory; the loaded one keeps serving'));
      } else if (slot.current.digest === desired.digest) {
        outcomes.push(outcome(slot, 'unchanged'));
      } else if (periodic && this.#refused.has(desired.digest)) {
        outcomes.push(outcome(slot, 'refused', this.#refused.get(desired.digest)));
      } else {
        try {
          built.set(slot, await this.#instance(slot.config, desired));
        } catch (err) {
          outcomes.push(this.#refuse(slot, desired, err));
        }
      }
    }
    if (built.size === 0) return outcomes;
    let pipeline: Pipeline | undefined;
    if ([...built].some(([slot, instance]) => routingChanged(slot, instance.plugin))) {
      try {
        pipeline = await this.#buildPipeline(new Map([...built].map(([slot, instance]) => [slot, instance.plugin])));
      } catch (err) {
        for (const [slot, instance] of built) {
          instance.dispose();
          outcomes.push(this.#refuse(slot, desired as LoadedPlugin, err));
        }
        return outcomes;
      }
    }
    if (this.#disposed) {
      for (const instance of built.values()) instance.dispose();
      pipeline?.router.dispose();
      pipeline?.chain?.dispose();
      return outcomes;
    }
    for (const [slot, instance] of built) {
      const from = slot.current.version;
      slot.swap(instance);
      outcomes.push(outcome(slot, 'swapped'));
      this.#announce(slot, { change: 'swapped', reason: `${from} → ${instance.version}` });
      this.#logger.info({ processor: slot.ref, plugin: ref, from, to: instance.version, origin: instance.plugin.origin }, 'plugin version swapped in');
    }
    if (pipeline) this.#replacePipeline(pipeline);
    return outcomes;
  }

  async #reconfigure(file: string): Promise<SyncOutcome[]> {
    const slots = this.slots.filter((s) => configFileOf(s.config.config) === file);
    if (slots.length === 0 || this.#disposed) return [];
    const outcomes: SyncOutcome[] = [];
    let digest: string;
    try {
      digest = readConfigFile(file).digest;
    } catch (err) {
      for (const slot of slots) outcomes.push(this.#refuseConfig(slot, file, undefined, err));
      return outcomes;
    }
    for (const slot of slots) {
      if (this.#configDigests.get(slot.current) === digest) {
        outcomes.push(outcome(slot, 'unchanged'));
        continue;
      }
      if (this.#refusedConfigs.get(file) === digest && slot.refusal !== undefined) {
        outcomes.push(outcome(slot, 'refused', slot.refusal));
        continue;
      }
      let instance: PluginInstance;
      try {
        instance = await this.#instance(slot.config, slot.current.plugin);
      } catch (err) {
        outcomes.push(this.#refuseConfig(slot, file, digest, err));
        continue;
      }
      if (this.#disposed) {
        instance.dispose();
        continue;
      }
      slot.swap(instance);
      this.#refusedConfigs.delete(file);
      outcomes.push(outcome(slot, 'swapped'));
      this.#logger.info({ processor: slot.ref, file, version: instance.version }, 'config file changed; the new config serves');
    }
    return outcomes;
  }

  #refuseConfig(slot: PluginSlot, file: string, digest: string | undefined, err: unknown): SyncOutcome {
    const reason = `config file ${file} refused: ${(err as Error).message}`;
    slot.refusal = reason;
    if (digest !== undefined) this.#refusedConfigs.set(file, digest);
    this.#logger.warn({ processor: slot.ref, file, reason: (err as Error).message }, 'config file refused; the running config keeps serving');
    return outcome(slot, 'refused', reason);
  }

  #refuse(slot: PluginSlot, plugin: LoadedPlugin, err: unknown): SyncOutcome {
    const reason = `${plugin.manifest.ref}@${plugin.manifest.metadata.version} refused: ${(err as Error).message}`;
    slot.refusal = reason;
    if (this.#refused.size >= 256) this.#refused.clear();
    this.#refused.set(plugin.digest, reason);
    this.#logger.warn({ processor: slot.ref, plugin: plugin.manifest.ref, version: plugin.manifest.metadata.version, reason: (err as Error).message }, 'plugin version refused; the loaded one keeps serving');
    this.#announce(slot, { change: 'refused', reason, version: plugin.manifest.metadata.version });
    return outcome(slot, 'refused', reason);
  }

  #appRoute(config: ProcessorConfig & { app: string }): AppRoute {
    if (!this.#options.apps) throw new PluginError(`processor "${config.ref}" names app "${config.app}", but this host runs no app runtime`);
    const route = this.#options.apps.route(config, (r, previous) => this.#onAppChange(r, previous));
    this.#metrics.pluginState.set({ plugin: `app:${config.app}`, processor: config.ref, state: 'closed' }, 1);
    return route;
  }

  #onAppChange(route: AppRoute, previous: BreakerState): void {
    this.pipeline?.router.invalidate();
    for (const state of SLOT_STATES) this.#metrics.pluginState.set({ plugin: `app:${route.app}`, processor: route.ref, state }, state === route.state ? 1 : 0);
    if (route.state === previous) return;
    const fields = { processor: route.ref, app: route.app, state: route.state, previous };
    if (route.state === 'open') this.#logger.warn({ ...fields, consecutiveFailures: route.consecutiveFailures }, 'circuit open: requests skip this app until the cool-down ends');
    else this.#logger.info(fields, 'app processor state changed');
  }

  async #createSlot(config: SlotConfig): Promise<PluginSlot> {
    const ref = config.plugin ?? config.ref;
    const state = await this.#storeState(ref);
    const candidates = await this.#candidates(ref, state);
    if (candidates.length === 0) {
      throw new PluginError(`plugin "${ref}" not found (looked in the plugin store, ${[this.#options.config.pluginsDir, 'the built-in plugins'].filter(Boolean).join(', ')})`);
    }
    let refusal: string | undefined;
    for (const [i, plugin] of candidates.entries()) {
      let instance: PluginInstance;
      try {
        instance = await this.#instance(config, plugin);
      } catch (err) {
        if (i === candidates.length - 1) throw err;
        refusal = `${plugin.manifest.ref}@${plugin.manifest.metadata.version} refused: ${(err as Error).message}`;
        this.#refused.set(plugin.digest, refusal);
        this.#logger.warn({ processor: config.ref, plugin: ref, reason: (err as Error).message }, 'installed plugin version refused at start; using the directory one');
        continue;
      }
      const slot = new PluginSlot(config, instance, {
        breaker: this.#options.config.circuitBreaker ?? DEFAULT_BREAKER,
        onChange: (s, previous) => this.#onChange(s, previous),
      });
      slot.refusal = refusal;
      this.#applyState(slot, state);
      return slot;
    }
    throw new PluginError(`plugin "${ref}" not found`);
  }

  /** Versions for `ref` in lookup order: the store's current one, then a plugins directory (or built-in). */
  async #candidates(ref: string, state: PluginState | undefined): Promise<LoadedPlugin[]> {
    const found: LoadedPlugin[] = [];
    const version = currentVersion(state);
    if (this.#store && version) {
      const bundle = await this.#store.bundle(ref, version);
      if (bundle) found.push(loadedFromBundle(bundle, { origin: 'store', location: `plugin store (${this.#store.kind})` }));
    }
    const dir = findPluginDirOrUndefined(ref, this.#options.config.pluginsDir);
    if (dir) found.push(loadPlugin(dir));
    return found;
  }

  async #storeState(ref: string): Promise<PluginState | undefined> {
    return this.#store ? this.#store.state(ref) : undefined;
  }

  #applyState(slot: PluginSlot, state: PluginState | undefined): void {
    slot.setEnabled(state?.enabled ?? true);
    if (state?.resetAt !== undefined && state.resetAt !== slot.resetAt) {
      slot.resetAt = state.resetAt;
      slot.resetBreaker();
    }
  }

  /**
   * The cheap checks, before any sandbox: kind, execution vs capabilities, config vs configSchema. A config kept in
   * a file is read now; `digest` says which content it was.
   */
  #preflight(config: SlotConfig, plugin: LoadedPlugin): { merged: Record<string, unknown>; digest?: string } {
    const { manifest } = plugin;
    const what = config.kind === 'processor' ? 'processor' : 'middleware';
    const expected = config.kind === 'processor' ? 'Processor' : 'Middleware';
    if (manifest.kind !== expected) throw new PluginError(`${what} "${config.ref}": plugin "${manifest.ref}" is a ${manifest.kind}, not a ${expected}`);
    if (this.#options.capabilities.isAsync(manifest.spec.capabilities) && manifest.spec.execution !== 'async') {
      throw new PluginError(`plugin "${manifest.ref}": its capabilities include async ones, so it must declare spec.execution: async`);
    }
    const list = config.kind === 'processor' ? this.#options.config.processors : this.#options.config.middlewares;
    const index = list.findIndex((entry) => entry.ref === config.ref);
    const where = `/spec/host/${what}s/${index}/config (${what} "${config.ref}")`;
    const file = configFileOf(config.config);
    // spec.host.registrar is the one place the registrar's NAT handling and backend header are set (Connect reads both).
    const hostDefaults = { ...this.#options.config.registrar };
    if (file === undefined) return { merged: mergedConfig(plugin, { config: config.config, where, hostDefaults }) };
    const read = readConfigFile(file);
    return { merged: mergedConfig(plugin, { config: read.config, where: `config file ${file} (${where})`, owned: true, hostDefaults }), digest: read.digest };
  }

  async #verify(plugin: LoadedPlugin): Promise<void> {
    if (this.#verified.has(plugin.digest)) return;
    await verifyPlugin(plugin, { engine: this.#engine, capabilities: this.#options.capabilities, logger: this.#logger, limitCaps: this.#options.config.pluginLimits });
    this.#verified.add(plugin.digest);
  }

  async #instance(config: SlotConfig, plugin: LoadedPlugin): Promise<PluginInstance> {
    const { merged, digest } = this.#preflight(config, plugin);
    await this.#verify(plugin);
    const { manifest } = plugin;
    const logger = this.#logger.child({ processor: config.ref });
    const options = {
      ref: config.ref,
      plugin,
      config: merged,
      // The manifest's asks are capped by the operator's spec.host.pluginLimits; the operator's own per-entry limits are not.
      limits: { ...DEFAULT_LIMITS, ...cappedLimits(manifest.spec.limits, this.#options.config.pluginLimits), ...(config.limits ?? {}) },
      engine: this.#engine,
      logger,
      metrics: this.#metrics,
      capabilities: this.#options.capabilities.build(manifest.spec.capabilities, { plugin: manifest.ref, processor: config.ref, logger }),
    };
    try {
      const instance = config.kind === 'processor' ? await Processor.create(options) : await Middleware.create({ ...options, stage: config.kind });
      if (digest !== undefined) this.#configDigests.set(instance, digest);
      return instance;
    } catch (err) {
      if (err instanceof PluginError) throw err;
      const file = configFileOf(config.config);
      const withConfig = file !== undefined ? ` with config file ${file}` : '';
      throw new PluginError(`${manifest.ref}@${manifest.metadata.version} does not load${withConfig}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Router and middleware chain for the slots, with `overrides` giving the version some slots are about to run. */
  async #buildPipeline(overrides: Map<PluginSlot, LoadedPlugin>): Promise<Pipeline> {
    const pluginOf = (slot: PluginSlot) => overrides.get(slot) ?? slot.current.plugin;
    const { config } = this.#options;
    const processors = this.slots.filter((s): s is PluginSlot<Processor> => s.kind === 'processor');
    const breaker = config.circuitBreaker ?? DEFAULT_BREAKER;
    // In configuration order, plugin slots and app entries alike.
    const routes = config.processors.map((entry): RouteSpec<ProcessorRoute> => {
      const app = this.appRoutes.find((r) => r.ref === entry.ref);
      if (app) return { route: app, ref: app.ref, methods: entry.methods, matchFunc: entry.matchFunc, isFallback: entry.isFallback ?? false };
      const slot = processors.find((s) => s.ref === entry.ref) as PluginSlot<Processor>;
      return {
        route: slot,
        ref: slot.ref,
        methods: slot.methodsFor(pluginOf(slot)),
        matchFunc: slot.matchFuncFor(pluginOf(slot)),
        matchOrigin: slot.matchOriginFor(pluginOf(slot)),
        isFallback: slot.config.kind === 'processor' && (slot.config.isFallback ?? false),
      };
    });
    const router = await Router.create(
      routes,
      { engine: this.#engine, timeoutMs: config.matchFuncTimeoutMs, logger: this.#logger, retryAfterSeconds: Math.ceil(breaker.coolDownMs / 1000) },
    );
    const middlewares = this.slots.filter((s): s is PluginSlot<Middleware> => s.kind !== 'processor');
    if (middlewares.length === 0) return { router, chain: undefined };
    try {
      return { router, chain: await MiddlewareChain.create(middlewares, { engine: this.#engine, timeoutMs: config.matchFuncTimeoutMs, pluginOf }) };
    } catch (err) {
      router.dispose();
      throw err;
    }
  }

  #replacePipeline(next: Pipeline): void {
    const old = this.pipeline;
    this.pipeline = next;
    const timer = setTimeout(() => {
      this.#retiring.delete(old);
      old.router.dispose();
      old.chain?.dispose();
    }, PIPELINE_GRACE_MS);
    timer.unref();
    this.#retiring.set(old, timer);
  }

  #onChange(slot: PluginSlot, previous: SlotState): void {
    this.pipeline?.router.invalidate();
    this.#gauge(slot);
    if (slot.state === previous) return;
    const fields = { processor: slot.ref, plugin: slot.plugin, state: slot.state, previous };
    this.#announce(slot, { change: 'state', previous });
    if (slot.state === 'open') this.#logger.warn({ ...fields, consecutiveFailures: slot.consecutiveFailures }, 'circuit open: requests skip this plugin until the cool-down ends');
    else this.#logger.info(fields, 'plugin state changed');
  }

  /** plugin.state on the bus: what the console and other watchers see of this host's entries. */
  #announce(slot: PluginSlot, what: { change: 'state' | 'swapped' | 'refused'; previous?: SlotState; reason?: string; version?: string }): void {
    const events = this.#options.events;
    if (!events?.wants('plugin.state')) return;
    events.publish('plugin.state', {
      processor: slot.ref,
      plugin: slot.plugin,
      kind: slot.kind,
      version: what.version ?? slot.current.version,
      state: slot.state,
      previous: what.previous ?? null,
      change: what.change,
      reason: what.reason ?? null,
    });
  }

  #gauge(slot: PluginSlot): void {
    for (const state of SLOT_STATES) this.#metrics.pluginState.set({ plugin: slot.plugin, processor: slot.ref, state }, state === slot.state ? 1 : 0);
  }
}

function routingChanged(slot: PluginSlot, next: LoadedPlugin): boolean {
  const before = slot.methodsFor();
  const after = slot.methodsFor(next);
  return slot.matchFuncFor() !== slot.matchFuncFor(next) || JSON.stringify(before) !== JSON.stringify(after);
}

function outcome(slot: PluginSlot, kind: SyncOutcome['outcome'], reason?: string): SyncOutcome {
  return { ref: slot.ref, plugin: slot.plugin, outcome: kind, version: slot.current.version, state: slot.state, ...(reason ? { reason } : {}) };
}
