/**
 * Loads the server's own configuration (a `kind: Server` v2beta1 resource) from YAML, validates it against
 * `config/schemas/server.schema.json`, fills defaults and deep-freezes it. Every problem is reported at once,
 * each naming the file, the resource ref and the JSON path.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { load, YAMLException } from 'js-yaml';
import type { TimerConfig } from '../edge/transactions/timers.js';
import type { TlsSettings } from '../edge/tls-files.js';
import type { TransportName } from '../sip/types.js';
import { describeErrors, validator } from './schemas.js';

export interface TransportConfig {
  protocol: TransportName;
  port: number;
  bindAddr?: string;
  /** tls and wss: certificate, key and peer verification (PEM paths, relative to the config file). */
  tls?: TlsSettings;
  /** ws and wss: the HTTP path WebSocket upgrades must use (any when absent). */
  path?: string;
}

export interface ProcessorConfig {
  ref: string;
  plugin?: string;
  methods?: string[];
  matchFunc?: string;
  isFallback?: boolean;
  config?: Record<string, unknown>;
  limits?: { timeoutMs?: number; memoryMb?: number };
}

export interface ServerConfig {
  apiVersion: 'v2beta1';
  kind: 'Server';
  ref: string;
  metadata?: { name?: string; region?: string };
  spec: {
    edge: {
      ref: string;
      bindAddr: string;
      advertisedAddrs: string[];
      localnets: string[];
      transports: TransportConfig[];
      timers: TimerConfig;
      decisionTimeoutMs: number;
      retryAfterSeconds: number;
      drainTimeoutMs: number;
      idleTimeoutMs: number;
      maxConnectionsPerSource: number;
      fixInvalidContacts: boolean;
    };
    bus: { url?: string; name?: string };
    host: { pluginsDir?: string; matchFuncTimeoutMs: number; processors: ProcessorConfig[] };
    http: { enabled: boolean; bindAddr: string; port: number; apiToken?: string };
    logging: { level: string };
  };
}

export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly problems: string[];
  constructor(file: string, problems: string[], options?: { cause?: unknown }) {
    super(`invalid configuration in ${file}:\n  ${problems.join('\n  ')}`, options);
    this.problems = problems;
  }
}

export function loadServerConfigFile(file: string): ServerConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [`cannot read: ${(err as Error).message}`], { cause: err });
  }
  let document: unknown;
  try {
    document = load(text, { filename: file });
  } catch (err) {
    if (err instanceof YAMLException) {
      const where = err.mark ? ` at line ${err.mark.line + 1}, column ${err.mark.column + 1}` : '';
      throw new ConfigError(file, [`YAML syntax error${where}: ${err.reason}`], { cause: err });
    }
    throw err;
  }
  const config = parseServerConfig(document, file);
  resolvePaths(config, dirname(resolve(file)));
  return deepFreeze(config);
}

/** Validate and fill defaults for an already-parsed document. */
export function parseServerConfig(document: unknown, file = '<inline>'): ServerConfig {
  const copy = structuredClone(document ?? {}) as Record<string, unknown>;
  const ref = typeof copy.ref === 'string' ? copy.ref : '<no ref>';
  const validate = validator('server');
  if (!validate(copy)) {
    throw new ConfigError(file, describeErrors(validate.errors).map((line) => `Server ${ref} ${line}`));
  }
  const config = copy as unknown as ServerConfig;
  const problems = crossCheck(config);
  if (problems.length) throw new ConfigError(file, problems.map((line) => `Server ${config.ref} ${line}`));
  return config;
}

function crossCheck(config: ServerConfig): string[] {
  const problems: string[] = [];
  const refs = new Set<string>();
  config.spec.host.processors.forEach((p, i) => {
    if (refs.has(p.ref)) problems.push(`/spec/host/processors/${i}/ref: duplicate processor ref "${p.ref}"`);
    refs.add(p.ref);
  });
  const seen = new Set<string>();
  config.spec.edge.transports.forEach((t, i) => {
    const key = `${t.protocol}|${t.bindAddr ?? config.spec.edge.bindAddr}|${t.port}`;
    if (t.port !== 0 && seen.has(key)) problems.push(`/spec/edge/transports/${i}: duplicate ${t.protocol} transport on port ${t.port}`);
    seen.add(key);
  });
  return problems;
}

function resolvePaths(config: ServerConfig, base: string): void {
  const host = config.spec.host;
  if (host.pluginsDir && !isAbsolute(host.pluginsDir)) host.pluginsDir = resolve(base, host.pluginsDir);
  for (const transport of config.spec.edge.transports) {
    const tls = transport.tls;
    if (!tls) continue;
    tls.cert = resolve(base, tls.cert);
    tls.key = resolve(base, tls.key);
    if (tls.ca) tls.ca = resolve(base, tls.ca);
  }
}

export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value as Record<string, unknown>)) deepFreeze(child);
  }
  return value;
}
