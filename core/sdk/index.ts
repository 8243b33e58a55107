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

export type { Decision, ForwardDecision, ForwardTarget, HeaderAlterations, ListeningPoint, NextHop, RespondDecision, Sender } from '../envelope.js';
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
  isValid?(request: RequestEnvelope, context: PluginContext<Config>): MaybePromise<StageVerdict>;
  isAuthenticated?(request: RequestEnvelope, context: PluginContext<Config>): MaybePromise<StageVerdict>;
  isAuthorized?(request: RequestEnvelope, context: PluginContext<Config>): MaybePromise<StageVerdict>;
  doProcess(request: RequestEnvelope, context: PluginContext<Config>): MaybePromise<Decision>;
}

/** What a pre middleware returns: go on (true or nothing), answer now, or add metadata for the stages after it. */
export type PreVerdict = true | undefined | void | RespondDecision | { metadata: Record<string, string> };

/** The middleware contract (`kind: Middleware`): `onRequest` for `stage: pre`, `onDecision` for `stage: post`. */
export interface MiddlewareModule<Config = Record<string, JsonValue>> {
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

/** A resource (Domain, Agent, Number, Trunk, Peer, ...) as the resources subsystem serves it. */
export interface Resource {
  apiVersion: string;
  kind: string;
  ref: string;
  metadata?: Record<string, JsonValue>;
  spec: Record<string, JsonValue>;
}

/**
 * `resources.read`: provided by the resources subsystem. The exact functions are that subsystem's to define;
 * this is the shape it was specified with.
 */
export interface ResourcesCapability {
  get(ref: string): Resource | null;
  find(kind: string, query?: Record<string, JsonValue>): Resource[];
}

/** A registered contact for an address of record. */
export interface Binding {
  aor: string;
  contact: string;
  expires: number;
  [key: string]: JsonValue;
}

/**
 * `location.read` / `location.write`: provided by the location service (registrar). As with resources, the
 * exact functions are that subsystem's to define; this is the shape it was specified with.
 */
export interface LocationCapability {
  find(aor: string): Binding[];
  register?(binding: Binding): void;
  unregister?(aor: string, contact?: string): void;
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
