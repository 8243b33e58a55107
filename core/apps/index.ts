/**
 * Applications outside the sandbox, host side (APPS.md): the directory of connected app instances, the client
 * that asks them for decisions, processor entries that name an app, and request handlers (web callbacks).
 * `AppRuntime.open` builds all of it for a host from `spec.host.apps` and `spec.host.requestHandlers`; the
 * processor host asks it for routes and handlers. The SDK apps use lives in `./sdk` (`routr/app`).
 */
import type { Bus } from '../bus/types.js';
import type { ProcessorConfig, ServerConfig } from '../config/server.js';
import type { BreakerState } from '../host/breaker.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { environment } from '../runtime/process.js';
import { AppClient } from './client.js';
import { AppDirectory } from './directory.js';
import { RequestHandlers } from './handlers.js';
import { appMetrics, type AppMetrics } from './metrics.js';
import { AppSigner, type MacFactory } from './protocol.js';
import { createHmac } from '../runtime/crypto.js';
import { AppRoute } from './route.js';

export { AppFailureError, AppClient } from './client.js';
export { AppDirectory } from './directory.js';
export { AppRoute } from './route.js';
export { RequestHandlers, RequestHandler } from './handlers.js';

export interface AppRuntimeOptions {
  bus: Bus;
  config: ServerConfig['spec'];
  logger: Logger;
  metrics: Metrics;
  /** Where `tokenEnv` is read; default the process environment. */
  env?: Record<string, string | undefined>;
}

export class AppRuntime {
  readonly directory: AppDirectory;
  readonly client: AppClient;
  readonly handlers: RequestHandlers;
  readonly metrics: AppMetrics;
  readonly #config: ServerConfig['spec'];

  private constructor(options: AppRuntimeOptions, signers: Map<string, AppSigner>) {
    const { bus, config, logger } = options;
    this.#config = config;
    this.metrics = appMetrics(options.metrics.registry);
    const retryAfterSeconds = config.edge.retryAfterSeconds;
    this.directory = new AppDirectory({ bus, signers, logger, metrics: this.metrics });
    this.client = new AppClient({ bus, directory: this.directory, logger, metrics: this.metrics, retryAfterSeconds });
    this.handlers = new RequestHandlers({
      handlers: config.host.requestHandlers.map((h) => ({
        method: h.method,
        url: h.url,
        headers: h.headers ?? {},
        timeoutMs: h.timeoutMs ?? handlerTimeoutMs(config),
        handoffTimeoutMs: h.handoffTimeoutMs ?? handoffTimeoutMs(config, h.timeoutMs),
      })),
      client: this.client,
      logger,
      metrics: this.metrics,
      retryAfterSeconds,
    });
  }

  /** Read every declared app's token, start listening to their presence. */
  static async open(options: AppRuntimeOptions): Promise<AppRuntime> {
    const env = options.env ?? environment();
    const signers = new Map<string, AppSigner>();
    for (const app of options.config.host.apps) {
      signers.set(app.name, await AppSigner.create(app.name, tokenOf(app, env), runtimeMac));
    }
    const runtime = new AppRuntime(options, signers);
    await runtime.directory.start();
    return runtime;
  }

  /** The route for a processor entry that names an app. */
  route(config: ProcessorConfig & { app: string }, onChange: (route: AppRoute, previous: BreakerState) => void): AppRoute {
    const breaker = this.#config.host.circuitBreaker;
    return new AppRoute(config, { client: this.client, timeoutMs: config.timeoutMs ?? appTimeoutMs(this.#config), breaker, onChange });
  }

  async close(): Promise<void> {
    await this.directory.stop();
  }
}

/**
 * The host signs and checks every request and reply: the runtime's synchronous HMAC costs a third of Web Crypto's
 * (measured on Node 20: ≈ 10 µs against ≈ 27 µs, most of that Web Crypto's argument checking). The SDK keeps Web
 * Crypto, which every runtime has.
 */
export const runtimeMac: MacFactory = (key) => ({ mac: (data) => createHmac('sha256', key).update(data).digest() });

/** Default time an app processor may take: two thirds of the edge's decision deadline (2 s of the default 3 s). */
export function appTimeoutMs(config: ServerConfig['spec']): number {
  return Math.floor((config.edge.decisionTimeoutMs * 2) / 3);
}

/** Default time a web callback may take: a third of the edge's decision deadline (1 s). */
export function handlerTimeoutMs(config: ServerConfig['spec']): number {
  return Math.floor(config.edge.decisionTimeoutMs / 3);
}

/** Default time a hand-off may take: what is left of two thirds of the edge's deadline after the callback. */
export function handoffTimeoutMs(config: ServerConfig['spec'], timeoutMs: number | undefined): number {
  return Math.max(10, appTimeoutMs(config) - (timeoutMs ?? handlerTimeoutMs(config)));
}

function tokenOf(app: ServerConfig['spec']['host']['apps'][number], env: Record<string, string | undefined>): string | undefined {
  if (app.auth === 'nats') return undefined;
  const token = app.token ?? (app.tokenEnv ? env[app.tokenEnv] : undefined);
  if (!token) throw new Error(`app "${app.name}": ${app.tokenEnv ? `environment variable ${app.tokenEnv} is not set` : 'no token'} (spec.host.apps)`);
  if (token.length < 16) throw new Error(`app "${app.name}": its token must be at least 16 characters`);
  return token;
}
