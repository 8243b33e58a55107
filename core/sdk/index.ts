/**
 * The routr plugin SDK (`routr/sdk`): TypeScript types for plugin authors — the request envelope, decisions,
 * the processor and middleware contracts, the `routr.*` capabilities, manifests and fixtures. PLUGINS.md is the
 * guide; `routr plugin test <dir>` runs a plugin's fixtures locally.
 *
 * Types only. A plugin runs in a sandbox as one ES module with no imports, so use `import type` from
 * TypeScript (and compile the plugin to a single ES module), or JSDoc in JavaScript:
 * `/** @type {import('routr/sdk').ProcessorModule} *\/`. Importing this module also declares the sandbox's
 * `routr` global. Everything here describes JSON: what a plugin receives is a copy, and what it returns must
 * survive JSON.stringify.
 */
import type { Decision, MessageEnvelope, RespondDecision } from '../envelope.js';
import type { TransportName } from '../sip/types.js';

export type { Decision, DecisionMetadata, ForwardDecision, ForwardTarget, HeaderAlterations, ListeningPoint, NextHop, RespondDecision, Sender } from '../envelope.js';
export type { AuthHeader, CSeq, NameAddr, Params, SipHeaders, SipRequest, TransportName, Via } from '../sip/types.js';

/** What a plugin receives for each request: the parsed SIP request and where it came from (README, "Routing"). */
export type RequestEnvelope = MessageEnvelope;

/** Anything JSON can carry: capability arguments and results, kv values, config. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** The second argument of every plugin function. */
export interface PluginContext<Config = Record<string, JsonValue>> {
  /** The manifest's `spec.config` with the operator's config merged over it (checked against `configSchema`). */
  readonly config: Config;
}

/** A maybe-async value: plugins with `execution: async` may return Promises; sync plugins (the default) may not. */
export type MaybePromise<T> = T | Promise<T>;

/** A contract stage's answer: true goes on, false gives the stage's standard refusal, a respond decision answers. */
export type StageVerdict = boolean | RespondDecision;

/**
 * The processor contract (`kind: Processor`): the optional stages run in order, then `doProcess`.
 * isValid false → 400, isAuthenticated false → 401, isAuthorized false → 403; a respond decision from a stage
 * (a 401 with a digest challenge, say) is sent as it is.
 */
export interface ProcessorModule<Config = Record<string, JsonValue>> {
  /**
   * Called once when the sandbox is built (and again if it is rebuilt), before any request, with the same
   * context: build tables from `config` here rather than on the first request. A throw refuses the version or
   * config, which then never serves. Must be synchronous.
   */
  init?(context: PluginContext<Config>): void;
  isValid?(request: RequestEnvelope, context: PluginContext<Config>): MaybePromise<StageVerdict>;
  isAuthenticated?(request: RequestEnvelope, context: PluginContext<Config>): MaybePromise<StageVerdict>;
  isAuthorized?(request: RequestEnvelope, context: PluginContext<Config>): MaybePromise<StageVerdict>;
  doProcess(request: RequestEnvelope, context: PluginContext<Config>): MaybePromise<Decision>;
}

/** What a pre middleware returns: go on (true or nothing), answer now, or add metadata for the stages after it. */
export type PreVerdict = true | undefined | void | RespondDecision | { metadata: Record<string, string> };

/** The middleware contract (`kind: Middleware`): `onRequest` for `stage: pre`, `onDecision` for `stage: post`. */
export interface MiddlewareModule<Config = Record<string, JsonValue>> {
  /** As for processors: once per sandbox build, before any request; a throw refuses the plugin. Synchronous. */
  init?(context: PluginContext<Config>): void;
  onRequest?(request: RequestEnvelope, context: PluginContext<Config>): MaybePromise<PreVerdict>;
  /** Return nothing to keep the decision, or a decision to replace it. */
  onDecision?(request: RequestEnvelope, decision: Decision, context: PluginContext<Config>): MaybePromise<Decision | undefined | void>;
}

/** `log`: rate limited per plugin (100 lines a second); messages are clipped at 2048 characters. */
export interface LogCapability {
  debug(message: string, fields?: Record<string, JsonValue>): void;
  info(message: string, fields?: Record<string, JsonValue>): void;
  warn(message: string, fields?: Record<string, JsonValue>): void;
  error(message: string, fields?: Record<string, JsonValue>): void;
}

/**
 * `kv`: this plugin's own key/value store, synchronous. Reads come from the host's mirror; a write is visible on
 * this host at once and on the others within milliseconds (last writer wins). Keys: [-_=/.a-zA-Z0-9], dotted,
 * at most 200 characters; values: JSON, at most 64 KiB; at most 10,000 keys per plugin.
 */
export interface KvCapability {
  get<T extends JsonValue = JsonValue>(key: string): T | null;
  set(key: string, value: JsonValue): void;
  /** True when the key existed. */
  delete(key: string): boolean;
  /** Keys starting with `prefix`, sorted. */
  keys(prefix?: string): string[];
}

/**
 * Credentials as plugins get them: Routr's nested shape without the password (the host checks digests). Every
 * kind reaches plugins validated, defaults filled, in one canonical shape whatever spelling the file used
 * (Routr's, its drafts', routr's first flat Credentials form; README "Routr v2 files").
 */
export interface PluginCredentials {
  apiVersion: 'v2beta1';
  kind: 'Credentials';
  ref: string;
  metadata?: { name?: string };
  spec: { credentials: { username: string } };
}

/** A resource (Domain, Agent, Number, Trunk, Peer, ...) as the resources subsystem serves it. */
export interface Resource {
  apiVersion: string;
  kind: string;
  ref: string;
  metadata?: Record<string, JsonValue>;
  spec: Record<string, JsonValue>;
}

/**
 * `resources.read`: the current resources, synchronous, read afresh on every call (a reload is visible to the next
 * request). Credentials come back as `spec.credentials.{username}`, without `password` (PluginCredentials).
 */
export interface ResourcesCapability {
  get(kind: string, ref: string): Resource | null;
  /** Resources of `kind` whose spec fields equal the filter's (dotted paths allowed, e.g. `{ 'context.domainUri': 'sip.local' }`). */
  find(kind: string, filter: Record<string, JsonValue>): Resource[];
  list(kind: string): Resource[];
}

/** What `location.register` takes (expires: seconds from now; 0 removes the binding). */
export interface BindingInput {
  /** The address of record; the store normalises it to `sip:1001@sip.local` (scheme, user, lower-case host). */
  aor: string;
  /** The Contact URI as registered (without the header's parameters). */
  contact: string;
  expires: number;
  /** Where the REGISTER came from on the socket (received / rport), and on which transport. */
  sender: { host: string; port: number; transport: TransportName };
  /** The edge that received the REGISTER (it owns the flow to the contact). */
  edgeRef: string;
  /** The edge's listening point the REGISTER arrived on. */
  receivedOn: { host: string; port: number; transport: TransportName };
  callId: string;
  cseq: number;
  /** Contact `q` parameter, 0..1, when given. */
  q?: number;
  /** `+sip.instance` (RFC 5626), when given. */
  instance?: string;
  /**
   * The registrar found the client behind NAT (Contact or Via naming another address than the socket's, a
   * private or `.invalid` Contact, a connection-oriented flow): with `nat: auto` it is reached at `sender`.
   */
  nat?: boolean;
  /** The Peer (or Agent) resource that registered it: a backend group's bindings come from several Peers. */
  registrant?: string;
}

/** A registered contact for an address of record (what `location.find` returns). */
export interface Binding extends BindingInput {
  /** Seconds left (computed on read; expired bindings are never returned). */
  expires: number;
  /** Epoch milliseconds when the binding ends. */
  expiresAt: number;
  /** Epoch milliseconds of the (re)registration that set this binding. */
  updatedAt: number;
  /** Epoch milliseconds of the registration that made the binding (refreshes keep it); absent in bindings stored before it was kept. */
  registeredAt?: number;
}

/**
 * `location.read` / `location.write`: the location service (registrar bindings). In memory on the embedded
 * bus, a JetStream KV bucket mirrored on every host on NATS; synchronous reads from the mirror.
 * Expired bindings are never returned and are swept in the background.
 */
export interface LocationCapability {
  /** Live bindings of `aor`, most recently updated first. `aor` is normalised by the store as in Binding.aor. */
  find(aor: string): Binding[];
  /** (location.write) Add or refresh the binding of (aor, contact); expires 0 removes it. Returns the live bindings. */
  register?(binding: BindingInput): Binding[];
  /** (location.write) Remove one contact of `aor`, or all of them when `contact` is absent. Returns how many. */
  unregister?(aor: string, contact?: string): number;
}

/** Result of `auth.verify`. */
export interface DigestVerdict {
  /**
   * ok: the response matches the credentials; stale: the nonce was ours but has expired (challenge again with
   * stale=true); replay: nonce-count not higher than one already seen for this nonce; invalid: wrong password,
   * unknown user (credentialsRef null), a nonce we did not issue, another realm, or a malformed header;
   * missing: no digest credentials for this realm in the header.
   */
  result: 'ok' | 'stale' | 'replay' | 'invalid' | 'missing';
  /** The username the credentials claimed, when there was one. */
  username?: string;
  /** With `challenge` asked for: the challenge header values, when the verdict is missing, replay or stale. */
  challenge?: string[];
}

/**
 * `auth.digest`: HTTP digest for SIP (RFC 3261 22, RFC 7616 / RFC 8760: MD5 and SHA-256, qop=auth). Nonces are
 * minted and checked by the host (HMAC with the cluster's secret, expiring after `spec.host.auth.nonceTtlSeconds`,
 * default 300); passwords never enter the sandbox: the plugin names a Credentials ref and the host checks.
 */
export interface DigestCapability {
  /**
   * Header values for a challenge (WWW-Authenticate for 401, Proxy-Authenticate for 407), one per algorithm,
   * in the order given (default ['SHA-256', 'MD5']), each with a fresh nonce and qop="auth".
   */
  challenge(options: { realm: string; stale?: boolean; algorithms?: Array<'MD5' | 'SHA-256'> }): string[];
  /**
   * Check the digest credentials for `realm` in the request's `header` (default 'authorization') against
   * Credentials `credentialsRef` (null: an unknown user; it is checked against a dummy secret so the answer and
   * its timing do not tell unknown users apart). A `username` that differs from the Credentials' username is
   * `invalid`. An ok nonce-count is remembered cluster-wide, so the same Authorization replayed gets `replay`.
   * The host reads the credentials from the envelope the edge sent; `request` (its `message.headers`) is needed
   * only outside a processor call. With `challenge`, a verdict that calls for a new challenge (missing, replay,
   * stale) carries its header values, as `challenge({realm, stale, algorithms})` would give them.
   */
  verify(options: {
    realm: string;
    credentialsRef: string | null;
    header?: 'authorization' | 'proxy-authorization';
    request?: { method: string; message: { headers: Record<string, unknown> } };
    challenge?: { algorithms?: Array<'MD5' | 'SHA-256'> };
  }): DigestVerdict;
  /** An HMAC (base64url) of `text` under the cluster's secret, so one host can vouch for data another reads. */
  sign(text: string): string;
  verifySigned(text: string, signature: string): boolean;
}

/**
 * `balancer`: pick one of several backends (a Peer's registered contacts) by round-robin or least-sessions,
 * with call affinity: once a call (`affinity`, usually the Call-ID) was given a backend, every later request of
 * that call gets the same one while it is still a candidate. State is shared through the location store, so it
 * holds across hosts. A session counts from its pick until `release(affinity)` (BYE, or a failed INVITE) or
 * until it has not been touched for `spec.host.balancer.sessionTtlSeconds` (default 3600).
 */
export interface BalancerCapability {
  /** The chosen candidate (one of `candidates`), or null when there are none. */
  pick(options: { group: string; algorithm: 'round-robin' | 'least-sessions'; candidates: string[]; affinity?: string | null }): string | null;
  /** End the session of `affinity`: it no longer counts toward least-sessions. True when there was one. */
  release(affinity: string): boolean;
}

/** `acl`: AccessControlList checks on the socket source (allow wins over deny; an address in neither is let in). */
export interface AclCapability {
  /** Whether ACL `aclRef` lets `address` in; an unknown ref throws. */
  permits(aclRef: string, address: string): boolean;
}

/** Result of `tokens.verify`. */
export type TokenVerdict = { valid: true; claims: Record<string, JsonValue> } | { valid: false; reason: string };

/**
 * `tokens`: JWT verification (X-Connect-Token) against the key in `spec.host.tokens` (a PEM public key or a
 * JWKS file): signature, `exp` and `nbf` (60 s leeway), and `iss`/`aud` when configured. Claims come back as
 * they are; enforcing them is the plugin's job.
 */
export interface TokensCapability {
  verify(token: string): TokenVerdict;
}

/**
 * The sandbox's `routr` global. Each member exists only when the plugin's manifest lists its capability
 * (`spec.capabilities`); nothing else from the host exists in the sandbox (no process, require, timers, fs,
 * network or console).
 */
export interface RoutrGlobal {
  readonly log: LogCapability;
  readonly kv: KvCapability;
  readonly resources: ResourcesCapability;
  readonly location: LocationCapability;
  readonly auth: DigestCapability;
  readonly balancer: BalancerCapability;
  readonly acl: AclCapability;
  readonly tokens: TokensCapability;
}

declare global {
  /** Host capabilities; present only as the manifest lists them. */
  const routr: RoutrGlobal;
}

export type PluginKind = 'Processor' | 'Middleware';

/** `plugin.yaml` (config/schemas/plugin.schema.json). */
export interface PluginManifest {
  apiVersion: 'v1';
  kind: PluginKind;
  ref: string;
  metadata: { name: string; version: string; description?: string };
  spec: {
    entry: string;
    /** sync (default): runs on the host thread, functions must not return Promises; async: the isolate's thread. */
    execution?: 'sync' | 'async';
    methods?: string[];
    matchFunc?: string;
    capabilities: string[];
    limits?: { timeoutMs?: number; memoryMb?: number };
    config?: Record<string, unknown>;
    /** JSON Schema the merged config must satisfy. */
    configSchema?: Record<string, unknown>;
  };
}

/** One entry of `fixtures/*.yaml|json` (config/schemas/fixture.schema.json). */
export interface Fixture {
  name: string;
  file?: string;
  stage?: 'pre' | 'post';
  config?: Record<string, unknown>;
  /** A partial envelope merged over a default INVITE to sip:1001@example.com. */
  request: Record<string, unknown>;
  /** Post middlewares: the decision they receive. */
  decision?: Record<string, unknown>;
  /** A decision (fields given must match), `{ status }`, `continue`, `keep`, or `{ metadata }`. */
  expect: Record<string, unknown> | 'continue' | 'keep';
}
