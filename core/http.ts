/**
 * The operations HTTP(S) endpoint: `/healthz` (the process is up), `/readyz` (transports bound and bus
 * connected, processors loaded: 200 or 503 with the reasons) and `/metrics` (Prometheus text format).
 * Later issues mount the management API here through `route()`.
 */
import type { TlsSettings } from './config/server.js';
import { loadTlsMaterial, serverTlsOptions } from './config/tls-files.js';
import { http, https } from './runtime/http.js';
import type { AddressInfo } from './runtime/net.js';
import type { Metrics } from './metrics.js';

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void | Promise<void>;

export interface OpsServerOptions {
  bindAddr: string;
  port: number;
  metrics: Metrics;
  /** Reasons the process is not ready yet; empty when ready. */
  readiness(): string[];
  /** Serve HTTPS with these (spec.http.tls); problems with the files throw TlsSetupError here. */
  tls?: TlsSettings;
}

export class OpsServer {
  readonly #server: http.Server;
  readonly #routes = new Map<string, Handler>();
  readonly #options: OpsServerOptions;

  constructor(options: OpsServerOptions) {
    this.#options = options;
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      void this.#handle(req, res).catch(() => {
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    };
    this.#server = options.tls ? https.createServer(serverTlsOptions(loadTlsMaterial(options.tls)), handler) : http.createServer(handler);
  }

  route(prefix: string, handler: Handler): void {
    this.#routes.set(prefix, handler);
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') return json(res, 200, { status: 'ok' });
    if (path === '/readyz') {
      const reasons = this.#options.readiness();
      return json(res, reasons.length ? 503 : 200, reasons.length ? { status: 'not ready', reasons } : { status: 'ready' });
    }
    if (path === '/metrics') {
      const body = await this.#options.metrics.registry.metrics();
      res.writeHead(200, { 'content-type': this.#options.metrics.registry.contentType });
      res.end(body);
      return;
    }
    for (const [prefix, handler] of this.#routes) {
      if (path === prefix || path.startsWith(prefix + '/')) return handler(req, res);
    }
    json(res, 404, { error: 'not found' });
  }

  async listen(): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#options.port, this.#options.bindAddr, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    return this.#server.address() as AddressInfo;
  }

  close(): Promise<void> {
    this.#server.closeAllConnections?.();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

export function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
