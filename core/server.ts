/**
 * One routr process: the edge role, the host role, or both (the default), sharing one bus, one metrics
 * registry and one logger. With no bus url the bus is in-process and both roles must run here.
 */
import { AuditLog } from './api/audit.js';
import { ApiAuth } from './api/auth.js';
import { ApiKeyStore } from './api/keys.js';
import { mountKeysApi } from './api/keys-api.js';
import { resolveApiAccess, type ApiAccess } from './api/token.js';
import { AppRuntime } from './apps/index.js';
import { mountSecretsApi } from './auth/api.js';
import { openKeyring, type Keyring } from './auth/keyring.js';
import { createBus, type NatsCredentials } from './bus/index.js';
import type { Bus } from './bus/types.js';
import { stateDirOf, type ServerConfig } from './config/server.js';
import { CallBoard } from './console/board.js';
import { mountConsole } from './console/index.js';
import { Edge } from './edge/edge.js';
import { defaultCapabilities } from './capabilities/index.js';
import { EventPublisher } from './events/publisher.js';
import { ProcessorHost } from './host/host.js';
import { mountPluginApi } from './host/plugins-api.js';
import { openHostServices, type HostServices } from './host/services.js';
import { OpsServer } from './http.js';
import { createLogger, type Logger } from './log.js';
import { Metrics } from './metrics.js';
import { mountResourcesApi, openResourceStore, resourcesCapability, type ResourceStore } from './resources/index.js';
import { PluginRuntime } from './plugins/index.js';
import { mountShieldApi } from './shield/api.js';
import { Shield } from './shield/index.js';
import { TrunkServices } from './trunks/index.js';
import { createEngine } from '../sandbox/index.js';
import type { SandboxEngine } from '../sandbox/types.js';
import { env, hostname, pid } from './runtime/process.js';

export type Role = 'all' | 'edge' | 'host';

export interface ServerOptions {
  config: ServerConfig;
  role?: Role;
  logger?: Logger;
  /** Called when the process can no longer be trusted to run (see `fatal`); the CLI drains and exits non-zero. */
  onFatal?: (reason: string) => void;
}

export class RoutrServer {
  readonly config: ServerConfig;
  readonly role: Role;
  readonly logger: Logger;
  readonly metrics = new Metrics({ defaults: true });
  /** What plugins may call; subsystems register their providers here before the host loads plugins. */
  readonly capabilities = defaultCapabilities();
  bus: Bus | undefined;
  edge: Edge | undefined;
  host: ProcessorHost | undefined;
  /** The plugin store, the `kv` capability and the plugins API (host role). */
  plugins: PluginRuntime | undefined;
  ops: OpsServer | undefined;
  /** Domains, Agents, Numbers...: read by plugins (`resources.read`) and changed through the management API. */
  resources: ResourceStore | undefined;
  /** Location, digest nonces, ACL and token checks behind the Connect capabilities (host role). */
  services: HostServices | undefined;
  /** Events on the bus (routr.v1.events.<type>): registrations, calls, plugin states. */
  events: EventPublisher | undefined;
  /** This process's host name in events and replies (spec.host.ref, else <hostname>:<pid>). */
  readonly hostRef: string;
  /** Registration with carriers and the answers to their challenges (host role; README "Trunks and probes"). */
  trunks: TrunkServices | undefined;
  /** Connected apps and request handlers (host role; APPS.md). */
  apps: AppRuntime | undefined;
  /** The cluster's shared secrets (Record-Route and branch signatures, nonces, auth.sign). */
  keys: Keyring | undefined;
  /** The management API's token and bind address (configured, or generated into the state directory). */
  apiAccess: ApiAccess | undefined;
  /** What the console shows of calls, trunks and plugins, kept from the events (when HTTP is on). */
  board: CallBoard | undefined;
  readonly startedAt = Date.now();
  /** Abuse defences shared by the edge and host roles: ban list, access list, rate and guessing limits. */
  shield: Shield | undefined;
  /** Who may use the management API: the token, the API keys on the bus, the audit trail. */
  auth: ApiAuth | undefined;
  /** Set when the process should be restarted by its supervisor (a sandbox thread was lost). */
  fatal: string | undefined;
  #stopping: Promise<void> | undefined;
  #console: { close(): Promise<void> } | undefined;
  #engine: SandboxEngine | undefined;
  readonly #onFatal: ((reason: string) => void) | undefined;

  constructor(options: ServerOptions) {
    this.config = options.config;
    this.role = options.role ?? 'all';
    this.logger = options.logger ?? createLogger({ level: options.config.spec.logging.level });
    this.#onFatal = options.onFatal;
    this.hostRef = options.config.spec.host.ref ?? `${hostname()}:${pid}`;
  }

  async start(): Promise<void> {
    const { spec } = this.config;
    if (!spec.bus.url && this.role !== 'all') {
      throw new Error(`role "${this.role}" needs a NATS bus: set spec.bus.url (the in-process bus only joins roles in one process)`);
    }
    try {
      this.bus = await createBus({ url: spec.bus.url, name: spec.bus.name ?? `routr-${this.role}-${spec.edge.ref}`, logger: this.logger, credentials: busCredentials(spec.bus) });
      this.events = new EventPublisher({
        bus: this.bus,
        edge: this.role === 'host' ? null : spec.edge.ref,
        host: this.role === 'edge' ? null : this.hostRef,
        logger: this.logger.child({ component: 'events' }),
        metrics: this.metrics,
      });
      // Before the host: plugins asking for resources.read get their capability built when they load.
      this.resources = await openResourceStore(spec.resources, { bus: this.bus, logger: this.logger, node: `${spec.edge.ref}/${pid}` });
      this.capabilities.register(resourcesCapability(this.resources));
      this.keys = await openKeyring(this.bus, { config: { secrets: spec.cluster.secrets, nonceSecret: spec.host.auth.nonceSecret }, logger: this.logger });
      this.shield = await Shield.open({ bus: this.bus, config: spec, resources: this.resources, metrics: this.metrics, logger: this.logger.child({ component: 'shield' }), node: `${this.role === 'host' ? 'host' : spec.edge.ref}/${pid}` });
      if (this.role !== 'edge') {
        this.services = await openHostServices(this.capabilities, {
          bus: this.bus,
          config: spec.host,
          resources: this.resources,
          logger: this.logger.child({ role: 'host' }),
          events: this.events,
          keys: this.keys,
          passwords: this.shield.passwords,
        });
        this.plugins = await PluginRuntime.open({ bus: this.bus, config: spec, logger: this.logger.child({ role: 'host' }), capabilities: this.capabilities });
        this.apps = await AppRuntime.open({ bus: this.bus, config: spec, logger: this.logger.child({ role: 'host', component: 'apps' }), metrics: this.metrics });
        const engine = createEngine({ engine: spec.host.sandbox.engine, onCatastrophicError: (sandbox, message) => this.#catastrophe(sandbox, message) });
        this.#engine = engine;
        this.logger.info({ engine: engine.name, configured: spec.host.sandbox.engine }, 'sandbox engine');
        this.host = await ProcessorHost.create({
          config: spec.host,
          engine,
          logger: this.logger.child({ role: 'host' }),
          metrics: this.metrics,
          capabilities: this.capabilities,
          store: this.plugins.store,
          events: this.events,
          name: this.hostRef,
          apps: this.apps,
        });
        this.host.start(this.bus);
        // NATS registers subscriptions asynchronously: be sure hosts are reachable before saying ready.
        await this.bus.flush();
        this.logger.info({ processors: this.host.processors }, 'processor host serving');
      }
      if (this.role !== 'host') {
        this.edge = new Edge({ config: spec.edge, bus: this.bus, logger: this.logger.child({ role: 'edge' }), metrics: this.metrics, events: this.events, sipTrace: spec.logging.sipTrace, keys: this.keys, shield: this.shield });
        await this.edge.start();
      }
      // After the edge: in one process the first REGISTER goes out through it at once.
      if (this.role !== 'edge' && this.services) {
        this.trunks = await TrunkServices.open({
          location: this.services.location,
          health: this.services.health,
          probes: spec.host.probes,
          bus: this.bus,
          resources: this.resources,
          logger: this.logger.child({ role: 'host', component: 'trunks' }),
          metrics: this.metrics,
          events: this.events,
          owner: `${this.hostRef}/${globalThis.crypto.randomUUID().slice(0, 8)}`,
          registry: { leaseTtlMs: spec.cluster.leaseTtlSeconds * 1000, tickMs: Math.max(500, (spec.cluster.leaseTtlSeconds * 1000) / 3) },
        });
      }
      if (spec.http.enabled) {
        const access = resolveApiAccess(spec.http, stateDirOf(spec));
        this.apiAccess = access;
        const token = access.token;
        this.auth = await this.#apiAuth(token);
        const auth = this.auth;
        this.ops = new OpsServer({ bindAddr: access.bindAddr, port: spec.http.port, metrics: this.metrics, readiness: () => this.readiness(), tls: spec.http.tls });
        mountResourcesApi(this.ops, auth, this.resources, { logger: this.logger.child({ component: 'resources-api' }) });
        if (this.host && this.plugins) {
          mountPluginApi(this.ops, auth, { host: this.host, store: this.plugins.store, storeProblem: this.plugins.storeProblem });
        }
        mountSecretsApi(this.ops, auth, this.keys, { logger: this.logger.child({ component: 'secrets-api' }) });
        if (this.shield) {
          mountShieldApi(this.ops, auth, this.shield, { configured: spec.edge.accessControlList, ipv6PrefixLength: spec.security.rateLimit.ipv6PrefixLength });
        }
        mountKeysApi(this.ops, auth);
        this.board = await CallBoard.open(this.bus);
        this.#console = mountConsole(this.ops, auth, this, { secure: spec.http.tls !== undefined });
        const address = await this.ops.listen();
        if (access.tokenFile) {
          const { path, created } = access.tokenFile;
          this.logger.info({ tokenFile: path, bindAddr: access.bindAddr }, created ? 'no API token configured: wrote a new one to the state directory; the ops HTTP server listens on loopback only' : 'no API token configured: using the one in the state directory; the ops HTTP server listens on loopback only');
        } else if (!token) {
          this.logger.warn({ bindAddr: access.bindAddr }, 'management API off: no token configured and a non-loopback bindAddr (set spec.http.apiToken or ROUTR_API_TOKEN)');
        }
        const scheme = spec.http.tls ? 'https' : 'http';
        this.logger.info({ port: address.port, bindAddr: access.bindAddr, tls: spec.http.tls !== undefined }, `${scheme} listening (/healthz, /readyz, /metrics, /api/v1, /console/)`);
      }
    } catch (err) {
      await this.#close();
      throw err;
    }
  }

  /** The API's authentication: the token, and the cluster's API keys (absent when the bus has no KV). */
  async #apiAuth(token: string | undefined): Promise<ApiAuth> {
    const logger = this.logger.child({ component: 'api' });
    const audit = new AuditLog({ logger: logger.child({ component: 'audit' }), events: this.events });
    try {
      const keys = await ApiKeyStore.open(this.bus as Bus);
      return new ApiAuth({ token, keys, audit, logger });
    } catch (err) {
      const problem = (err as Error).message;
      logger.warn({ err: problem }, 'API keys unavailable (the bus has no KV: run nats-server with -js); the API token still works');
      return new ApiAuth({ token, keysProblem: problem, audit, logger });
    }
  }

  /** The engine lost control of a sandbox (a wedged thread, or a blocked one): its requests fail with 500; restart. */
  #catastrophe(sandbox: string, message: string): void {
    this.logger.fatal({ sandbox, message }, 'sandbox engine lost control of an isolate; the process must be restarted');
    this.fatal ??= `sandbox ${sandbox}: ${message}`;
    this.#onFatal?.(this.fatal);
  }

  readiness(): string[] {
    const reasons: string[] = [];
    if (this.fatal) reasons.push(`fatal: ${this.fatal}`);
    if (this.bus?.status() !== 'connected') reasons.push(`bus ${this.bus?.status() ?? 'absent'}`);
    if (this.role !== 'host' && !this.edge?.ready) reasons.push('transports not bound');
    if (this.role !== 'edge' && !this.host) reasons.push('processors not loaded');
    if (!this.resources) reasons.push('resources not loaded');
    return reasons;
  }

  /** Graceful stop: drain the edge's transactions, then the host's in-flight requests, then close. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.logger.info('draining');
      // Unregister from carriers while an edge can still send the REGISTERs.
      await this.trunks?.stop().catch((err: unknown) => this.logger.warn({ err }, 'trunk unregistration failed'));
      await this.edge?.drain();
      await this.host?.drain();
      await this.#close();
      this.logger.info('stopped');
    })();
    return this.#stopping;
  }

  async #close(): Promise<void> {
    await this.trunks?.stop().catch(() => {});
    await this.edge?.close().catch(() => {});
    this.host?.dispose();
    await this.apps?.close().catch(() => {});
    this.#engine?.disposeAll();
    await this.plugins?.close().catch(() => {});
    await this.services?.close().catch(() => {});
    await this.keys?.close().catch(() => {});
    await this.shield?.close().catch(() => {});
    await this.ops?.close().catch(() => {});
    await this.board?.close().catch(() => {});
    await this.#console?.close().catch(() => {});
    await this.resources?.close().catch(() => {});
    this.events?.close();
    await this.bus?.close().catch(() => {});
  }
}

/** spec.bus.user with its password (spec.bus.password, else ROUTR_NATS_PASSWORD), for a NATS server with authorization. */
function busCredentials(bus: ServerConfig['spec']['bus']): NatsCredentials | undefined {
  return bus.user ? { user: bus.user, password: bus.password ?? env('ROUTR_NATS_PASSWORD') } : undefined;
}
