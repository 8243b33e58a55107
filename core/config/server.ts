/**
 * Loads the server's own configuration (a `kind: Server` v2beta1 resource) from YAML, validates it against
 * `config/schemas/server.schema.json`, fills defaults and deep-freezes it. Every problem is reported at once,
 * each naming the file, the resource ref and the JSON path.
 */
import { readFileSync, dirname, isAbsolute, resolve } from '../runtime/files.js';
import { load, YAMLException } from 'js-yaml';
import type { SandboxEngineChoice } from '../../sandbox/types.js';
import type { TransportName } from '../sip/types.js';
import { entryProblem } from '../config/networks.js';
import { schemaProblems, validator, type SchemaProblem } from './schemas.js';

/** RFC 3261 timers, milliseconds. */
export interface TimerConfig {
  /** RTT estimate, default 500 ms. */
  t1: number;
  /** Cap on non-INVITE and INVITE-response retransmit intervals, default 4 s. */
  t2: number;
  /** Longest time a message stays in the network, default 5 s. */
  t4: number;
  /** Proxy INVITE timer C (RFC 3261 16.6 step 11): > 3 min; how long to wait for a final answer after a provisional. */
  timerC: number;
}

/** The `tls` block of a transport in the server config. Paths are absolute once the config is loaded. */
export interface TlsSettings {
  /** PEM certificate (chain) file; with `key`, or give `pfx`. */
  cert?: string;
  /** PEM private key file (unencrypted). */
  key?: string;
  /** A PKCS#12 keystore (certificate chain and key in one file), instead of cert and key. */
  pfx?: string;
  /** The keystore's password. */
  passphrase?: string;
  /** Lowest TLS version accepted, default TLSv1.2. */
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** PEM CA bundle: trusted for client certificates, and for outbound connections besides the system roots. */
  ca?: string;
  /** Ask inbound clients for a certificate (mutual TLS). */
  requestClientCert?: boolean;
  /**
   * Refuse peers whose certificate does not verify: inbound only when `requestClientCert` is set (a client
   * without a valid certificate is then refused); outbound always. Default true.
   */
  rejectUnauthorized?: boolean;
}

export interface TransportConfig {
  protocol: TransportName;
  port: number;
  bindAddr?: string;
  /** tls and wss: certificate, key and peer verification (PEM paths, relative to the config file). */
  tls?: TlsSettings;
  /** ws and wss: the HTTP path WebSocket upgrades must use (any when absent). */
  path?: string;
  /** Largest message (header block and body) accepted on this transport; default DEFAULT_MAX_MESSAGE_BYTES. */
  maxMessageBytes?: number;
}

/** Kamailio's BUF_SIZE: no SIP message a phone, PBX or trunk sends comes near it. */
export const DEFAULT_MAX_MESSAGE_BYTES = 65_535;

/** Networks as written (addresses, CIDRs, IPv4 address/netmask): allow wins over deny, neither lets in. */
export interface NetworkList {
  allow: string[];
  deny: string[];
}

/** spec.security: the abuse defences (core/shield). */
export interface SecurityConfig {
  rateLimit: {
    enabled: boolean;
    windowMs: number;
    maxRequests: number;
    banSeconds: number;
    ipv6PrefixLength: number;
    exempt: string[];
    exemptTrunksAndPeers: boolean;
  };
  passwordGuessing: {
    enabled: boolean;
    windowSeconds: number;
    delayAfter: number;
    delayMs: number;
    banAfter: number;
    banSeconds: number;
    usernameDelayAfter: number;
  };
  scanners: { enabled: boolean; userAgents: string[] };
  bans: { enabled: boolean; maxEntries: number };
}

export interface ProcessorConfig {
  ref: string;
  plugin?: string;
  /** An app (spec.host.apps) decides instead of a plugin (APPS.md). */
  app?: string;
  /** App entries: how long the app may take (default two thirds of spec.edge.decisionTimeoutMs). */
  timeoutMs?: number;
  methods?: string[];
  matchFunc?: string;
  isFallback?: boolean;
  config?: Record<string, unknown>;
  limits?: { timeoutMs?: number; memoryMb?: number };
}

export interface MiddlewareConfig {
  ref: string;
  plugin?: string;
  stage: 'pre' | 'post';
  methods?: string[];
  matchFunc?: string;
  config?: Record<string, unknown>;
  limits?: { timeoutMs?: number; memoryMb?: number };
}

/** An application allowed to connect (APPS.md): its name and how it proves it is that app. */
export interface AppConfig {
  name: string;
  /** token (the default, filled in by the schema): frames signed with the app's token; nats: NATS permissions decide. */
  auth?: 'token' | 'nats';
  token?: string;
  /** Read the token from this environment variable instead. */
  tokenEnv?: string;
}

/** A web callback asked for every request of `method` ("*": methods without a handler of their own). */
export interface RequestHandlerEntry {
  method: string;
  url: string;
  timeoutMs?: number;
  handoffTimeoutMs?: number;
  headers?: Record<string, string>;
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
      /** User-Agent on requests the edge originates (CANCEL, ACK), Server on responses it gives itself. */
      userAgent?: string;
      /** auto: as the decision says (dialog-creating requests by default); always; never. */
      recordRoute: 'auto' | 'always' | 'never';
      /** The trace ring (core/trace). */
      trace: { enabled: boolean; maxBytes: number; messagesPerCall: number };
      /** HEP3 export of every message. */
      hep?: { host: string; port: number; agentId?: number };
      /** Checked on the socket source before any parse (core/shield). */
      accessControlList: NetworkList;
      maxConnections: number;
      headerTimeoutMs: number;
      bodyTimeoutMs: number;
      maxWriteBufferBytes: number;
      maxTransactions: number;
      /** Methods the edge accepts (upper-cased; acceptableSIPMessages folded in); absent: all. */
      allowedRequests?: string[];
      /** The Routr v2 spec's name for allowedRequests, as written. */
      acceptableSIPMessages?: string[];
    };
    /** user and password: how routr proves itself to a NATS server with authorization (APPS.md). */
    bus: { url?: string; name?: string; user?: string; password?: string };
    /** Shared secrets (core/auth/keyring.ts): newest first. */
    cluster: { secrets?: string[]; leaseTtlSeconds: number };
    host: {
      /** This host's name in events and replies; default <hostname>:<pid>. */
      ref?: string;
      pluginsDir?: string;
      matchFuncTimeoutMs: number;
      processors: ProcessorConfig[];
      middlewares: MiddlewareConfig[];
      circuitBreaker: { failures: number; coolDownMs: number };
      /** Which sandbox engine runs plugins and matchFuncs (sandbox/index.ts createEngine). */
      sandbox: { engine: SandboxEngineChoice };
      /** Caps on what plugin manifests may ask for (spec.limits). */
      pluginLimits: { maxTimeoutMs: number; maxMemoryMb: number };
      pluginStore: { path?: string };
      auth: { nonceTtlSeconds: number; nonceSecret?: string };
      tokens?: { publicKey?: string; jwks?: string; issuer?: string; audience?: string; clockToleranceSeconds?: number };
      balancer: { sessionTtlSeconds: number };
      /** The registrar's NAT handling and backend-group header (fed to Connect's `nat` and `backendHeader`). */
      registrar: { nat: 'auto' | 'always' | 'never'; backendHeader: string };
      /** OPTIONS health probes of Trunk URIs and Peer bindings (core/trunks/probes.ts); absent: only per resource. */
      probes?: { intervalSeconds: number; failuresToMarkDown: number; successesToMarkUp: number };
      apps: AppConfig[];
      requestHandlers: RequestHandlerEntry[];
    };
    security: SecurityConfig;
    /** bindAddr absent: 0.0.0.0 with a token, else loopback (core/api/token.ts). */
    http: { enabled: boolean; bindAddr?: string; port: number; apiToken?: string; tls?: TlsSettings };
    /** sipTrace undefined: messages are logged when the level is trace (core/trace/capture.ts); false: never. */
    logging: { level: string; sipTrace?: boolean };
    /** Where resources live (core/resources); `path` is absolute once loaded from a file. */
    resources: {
      provider: 'files' | 'nats' | 'redis' | 'restful';
      path?: string;
      redis: { host: string; port: number; secret?: string; username?: string; db: number; prefix: string; keyspaceNotifications: boolean; pollSeconds: number };
      restful?: { baseUrl: string; username?: string; secret?: string; pollSeconds: number; timeoutMs: number };
    };
    /** The state directory (generated API token, embedded plugin store); absolute once loaded from a file. */
    stateDir?: string;
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
  return configFromDocument(readConfigDocument(file), file);
}

/** A config file's YAML as data; unreadable files and syntax errors are ConfigErrors. */
export function readConfigDocument(file: string): unknown {
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
  return document;
}

/** A Server document read from `file`: validated, defaults filled, paths resolved against the file's directory, frozen. */
export function configFromDocument(document: unknown, file: string): ServerConfig {
  const config = parseServerConfig(document, file);
  resolvePaths(config, dirname(resolve(file)));
  return deepFreeze(config);
}

/** Validate and fill defaults for an already-parsed document. */
export function parseServerConfig(document: unknown, file = '<inline>'): ServerConfig {
  const { config, problems } = checkServerDocument(document);
  if (!config) {
    const ref = isRecord(document) && typeof document.ref === 'string' ? document.ref : '<no ref>';
    throw new ConfigError(file, problems.map((p) => `Server ${ref} ${p.path || '/'}: ${p.message}`));
  }
  return config;
}

/**
 * Every problem of a Server document, located by JSON pointer; `config` (a copy with defaults filled) only when
 * there are none. `routr resources validate` reports Server documents through this too.
 */
export function checkServerDocument(document: unknown): { config?: ServerConfig; problems: SchemaProblem[] } {
  const copy = structuredClone(document ?? {}) as Record<string, unknown>;
  const validate = validator('server');
  if (!validate(copy)) return { problems: schemaProblems(validate.errors) };
  const config = copy as unknown as ServerConfig;
  const problems = crossCheck(config);
  if (problems.length) return { problems };
  const edge = config.spec.edge;
  const allowed = edge.allowedRequests ?? edge.acceptableSIPMessages;
  if (allowed) edge.allowedRequests = allowed.map((m) => m.toUpperCase());
  return { config, problems };
}

function crossCheck(config: ServerConfig): SchemaProblem[] {
  const problems: SchemaProblem[] = [];
  const refs = new Set<string>();
  config.spec.host.processors.forEach((p, i) => {
    if (refs.has(p.ref)) problems.push({ path: `/spec/host/processors/${i}/ref`, message: `duplicate processor ref "${p.ref}"` });
    refs.add(p.ref);
  });
  // Middlewares share the namespace: `routr plugin list` and the metrics name entries by ref alone.
  config.spec.host.middlewares.forEach((m, i) => {
    if (refs.has(m.ref)) problems.push({ path: `/spec/host/middlewares/${i}/ref`, message: `duplicate processor or middleware ref "${m.ref}"` });
    refs.add(m.ref);
  });
  problems.push(...appProblems(config));
  const bus = config.spec.bus;
  if (bus.password !== undefined && bus.user === undefined) problems.push({ path: '/spec/bus/password', message: 'a password goes with a user' });
  const { allowedRequests, acceptableSIPMessages } = config.spec.edge;
  const methods = (list: string[]) => [...new Set(list.map((m) => m.toUpperCase()))].sort().join(',');
  if (allowedRequests && acceptableSIPMessages && methods(allowedRequests) !== methods(acceptableSIPMessages)) {
    problems.push({ path: '/spec/edge/acceptableSIPMessages', message: 'is another name for allowedRequests, and lists other methods: give one of the two' });
  }
  const seen = new Set<string>();
  config.spec.edge.transports.forEach((t, i) => {
    const key = `${t.protocol}|${t.bindAddr ?? config.spec.edge.bindAddr}|${t.port}`;
    if (t.port !== 0 && seen.has(key)) problems.push({ path: `/spec/edge/transports/${i}`, message: `duplicate ${t.protocol} transport on port ${t.port}` });
    seen.add(key);
  });
  const networks: Array<[string, readonly string[]]> = [
    ['/spec/edge/accessControlList/allow', config.spec.edge.accessControlList.allow],
    ['/spec/edge/accessControlList/deny', config.spec.edge.accessControlList.deny],
    ['/spec/security/rateLimit/exempt', config.spec.security.rateLimit.exempt],
  ];
  for (const [path, entries] of networks) {
    entries.forEach((entry, i) => {
      const problem = entryProblem(entry);
      if (problem) problems.push({ path: `${path}/${i}`, message: problem });
    });
  }
  const tokens = config.spec.host.tokens;
  if (tokens && !tokens.publicKey && !tokens.jwks) problems.push({ path: '/spec/host/tokens', message: 'set publicKey (a PEM file) or jwks (a JWKS file)' });
  const resources = config.spec.resources;
  if (resources.provider === 'nats' && !config.spec.bus.url) {
    problems.push({ path: '/spec/resources/provider', message: 'the nats provider needs a NATS bus: set spec.bus.url' });
  }
  if (resources.provider !== 'files' && resources.path !== undefined) {
    problems.push({ path: '/spec/resources/path', message: `path is for the files provider; the ${resources.provider} provider does not read a directory` });
  }
  if (resources.provider === 'restful' && !resources.restful) {
    problems.push({ path: '/spec/resources', message: 'the restful provider needs restful: { baseUrl, username, secret }' });
  }
  return problems;
}

/** App and request handler entries: what the schema alone cannot say. */
function appProblems(config: ServerConfig): SchemaProblem[] {
  const problems: SchemaProblem[] = [];
  const { host, edge } = config.spec;
  const apps = new Set<string>();
  host.apps.forEach((app, i) => {
    const at = `/spec/host/apps/${i}`;
    if (apps.has(app.name)) problems.push({ path: `${at}/name`, message: `duplicate app "${app.name}"` });
    apps.add(app.name);
    const secrets = [app.token, app.tokenEnv].filter((v) => v !== undefined).length;
    if (app.auth !== 'nats' && secrets !== 1) problems.push({ path: at, message: 'set token or tokenEnv (exactly one): every app proves it holds its token' });
    if (app.auth === 'nats' && secrets !== 0) problems.push({ path: at, message: 'auth: nats takes no token (NATS permissions decide who may serve the app)' });
  });
  const budget = edge.decisionTimeoutMs;
  host.processors.forEach((p, i) => {
    const at = `/spec/host/processors/${i}`;
    if (p.app === undefined) {
      if (p.timeoutMs !== undefined) problems.push({ path: `${at}/timeoutMs`, message: 'timeoutMs is for app entries; plugins take limits.timeoutMs' });
      return;
    }
    if (p.plugin !== undefined) problems.push({ path: `${at}/app`, message: 'an entry names a plugin or an app, not both' });
    if (p.config !== undefined || p.limits !== undefined) problems.push({ path: `${at}/app`, message: 'config and limits are for plugins; an app entry takes timeoutMs' });
    if (!apps.has(p.app)) problems.push({ path: `${at}/app`, message: `app "${p.app}" is not declared in spec.host.apps` });
    if (p.timeoutMs !== undefined && p.timeoutMs >= budget) {
      problems.push({ path: `${at}/timeoutMs`, message: `must be below spec.edge.decisionTimeoutMs (${budget}), or the edge answers 503 first` });
    }
  });
  const methods = new Set<string>();
  host.requestHandlers.forEach((h, i) => {
    const at = `/spec/host/requestHandlers/${i}`;
    if (methods.has(h.method)) problems.push({ path: `${at}/method`, message: `a second request handler for ${h.method} (one per method)` });
    methods.add(h.method);
    const total = (h.timeoutMs ?? Math.floor(budget / 3)) + (h.handoffTimeoutMs ?? 0);
    if (total >= budget) problems.push({ path: at, message: `timeoutMs + handoffTimeoutMs must be below spec.edge.decisionTimeoutMs (${budget})` });
  });
  return problems;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Where a config keeps its state: spec.stateDir, else `.routr` in the working directory (inline configs). */
export function stateDirOf(spec: ServerConfig['spec']): string {
  return spec.stateDir ?? resolve(STATE_DIR);
}

export const STATE_DIR = '.routr';

function resolvePaths(config: ServerConfig, base: string): void {
  config.spec.stateDir = resolve(base, config.spec.stateDir ?? STATE_DIR);
  const host = config.spec.host;
  if (host.pluginsDir && !isAbsolute(host.pluginsDir)) host.pluginsDir = resolve(base, host.pluginsDir);
  const resources = config.spec.resources;
  if (resources.path && !isAbsolute(resources.path)) resources.path = resolve(base, resources.path);
  if (host.pluginStore.path && !isAbsolute(host.pluginStore.path)) host.pluginStore.path = resolve(base, host.pluginStore.path);
  if (host.tokens?.publicKey) host.tokens.publicKey = resolve(base, host.tokens.publicKey);
  if (host.tokens?.jwks) host.tokens.jwks = resolve(base, host.tokens.jwks);
  // A processor or middleware config kept in its own file (core/host/config-files.ts): `config: { file }`.
  for (const entry of [...host.processors, ...host.middlewares]) {
    const file = configFileOf(entry.config);
    if (file !== undefined) (entry.config as { file: string }).file = resolve(base, file);
  }
  for (const transport of config.spec.edge.transports) {
    const tls = transport.tls;
    if (!tls) continue;
    resolveTls(tls, base);
  }
  if (config.spec.http.tls) resolveTls(config.spec.http.tls, base);
}

function resolveTls(tls: TlsSettings, base: string): void {
  if (tls.cert) tls.cert = resolve(base, tls.cert);
  if (tls.key) tls.key = resolve(base, tls.key);
  if (tls.pfx) tls.pfx = resolve(base, tls.pfx);
  if (tls.ca) tls.ca = resolve(base, tls.ca);
}

/** The file a processor's or middleware's config names (`config: { file: path }`, nothing else), or undefined. */
export function configFileOf(config: Record<string, unknown> | undefined): string | undefined {
  if (config === undefined || config === null) return undefined;
  const keys = Object.keys(config);
  return keys.length === 1 && keys[0] === 'file' && typeof config.file === 'string' ? config.file : undefined;
}

export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value as Record<string, unknown>)) deepFreeze(child);
  }
  return value;
}
