/**
 * The event contract: what routr tells the world on `routr.v1.events.<type>`. Every event is one JSON object
 * with the common fields below plus its type's own; `config/schemas/events/<type>.schema.json` is the
 * authority (a contract test checks every type emitted by real flows against it). Fields that do not apply
 * to an event are null, never absent, so consumers can read them without guessing.
 *
 * Delivery is at most once and unordered across nodes (plain publish, no JetStream): events are for
 * dashboards, accounting and balancers that can tolerate a lost one, not a ledger.
 */

export const EVENT_TYPES = [
  'endpoint.registered',
  'endpoint.unregistered',
  'call.started',
  'call.answered',
  'call.ended',
  'trunk.registration',
  'plugin.state',
  'audit.change',
  'accounting.call',
  'accounting.registration',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

/** Fields every event carries. */
export interface EventCommon {
  type: EventType;
  /** Unique per event (random), for de-duplication. */
  id: string;
  /** ISO 8601, UTC, milliseconds. */
  time: string;
  /** The edge that saw it (the edge the endpoint registered through, the edge that forwarded the call). */
  edge: string | null;
  /** The processor host that decided it (host events: the host itself). */
  host: string | null;
  callId: string | null;
  /** Address of record: the registered AOR, or a call's caller (From URI without parameters). */
  aor: string | null;
  /** Connect's routing type (agent-to-agent, agent-to-pstn, from-pstn, ...), from the decision's X-Call-Direction. */
  routingType: string | null;
  /** The tenant it belongs to (the caller's, the registrant's, the principal's); null: untenanted or unknown. */
  tenant: string | null;
}

export interface Address {
  host: string;
  port: number;
  transport: string;
}

export interface EndpointRegistered {
  contact: string;
  expires: number;
  /** The flow the REGISTER came on. */
  sender: Address;
  /** false for a new binding, true for a refresh of one. */
  refreshed: boolean;
}

export interface EndpointUnregistered {
  contact: string;
  /** unregistered: Expires 0, Contact *, or replaced (maxContacts); expired: nobody refreshed it in time. */
  reason: 'unregistered' | 'expired';
}

export interface CallStarted {
  from: string;
  to: string;
  /** The Request-URI the caller sent. */
  uri: string;
  /** The processor that decided the call. */
  processor: string | null;
  /** The first target the call was sent to (Request-URI after the decision), null when routed as it stood. */
  target: string | null;
  source: Address;
}

export interface CallAnswered {
  status: number;
  processor: string | null;
  /** Milliseconds from call.started to the first 2xx. */
  setupMs: number;
  /** The Request-URI of the branch that answered (after failover, the target that took the call); null when not known. */
  target: string | null;
}

export interface CallEnded {
  /** bye: a BYE ended an answered call; cancel: the caller gave up; failure: a non-2xx final answer; expired: forgotten (no BYE seen). */
  cause: 'bye' | 'cancel' | 'failure' | 'expired';
  /** The final status of the INVITE (failure, cancel) or of the BYE. */
  status: number | null;
  answered: boolean;
  processor: string | null;
  /** Milliseconds from call.started to the end. */
  durationMs: number;
  /** Milliseconds the call was up (answer to end); null when never answered. */
  talkMs: number | null;
}

export interface TrunkRegistration {
  trunk: string;
  /** registered, failed, unregistered, or what the registration client reports next. */
  state: string;
  /** The registrar's last answer, null when none came. */
  status: number | null;
  expires: number | null;
  reason: string | null;
}

export interface PluginState {
  /** The processor or middleware entry (spec.host.processors[].ref). */
  processor: string;
  plugin: string;
  kind: 'processor' | 'pre' | 'post';
  version: string;
  state: 'closed' | 'open' | 'half-open' | 'disabled';
  previous: 'closed' | 'open' | 'half-open' | 'disabled' | null;
  /** state: the breaker or enable/disable changed it; swapped: a new version serves; refused: a version was refused. */
  change: 'state' | 'swapped' | 'refused';
  reason: string | null;
}

/** One thing an API request changed: digests (SHA-256 of the canonical JSON, secrets left out), never contents. */
export interface AuditChange {
  /** `Agent/agent-01`, `plugin/connect`, a key id. */
  target: string;
  action: string;
  before: string | null;
  after: string | null;
}

export interface AuditRecord {
  /** `api-token`, `console`, `key:<id>`, or `anonymous` (the request did not authenticate). */
  who: string;
  name: string | null;
  role: string | null;
  /** The route id (routes table), null when the path matched none. */
  route: string | null;
  method: string;
  path: string;
  target: string | null;
  changes: AuditChange[];
  before: string | null;
  after: string | null;
  status: number;
  result: 'ok' | 'refused' | 'failed';
  /** The client's address. */
  source: string | null;
  ms: number;
}

/**
 * One call's accounting record (a CDR), published once by the edge the call entered routr through, when the call
 * ends: a relayed hop through a second edge is not accounted again. Times are ISO 8601 UTC; durations in ms.
 */
export interface AccountingCall {
  /** The Request-URI the caller sent, the From and To URIs. */
  uri: string;
  from: string;
  to: string;
  /** The first target the call was sent to. */
  target: string | null;
  /** The Trunk it left or came in through (Connect's decision metadata), null when none. */
  trunk: string | null;
  processor: string | null;
  source: Address;
  startedAt: string;
  answeredAt: string | null;
  endedAt: string;
  /** Start to end. */
  durationMs: number;
  /** Start to the first 2xx; null when never answered. */
  setupMs: number | null;
  /** Answer to end; null when never answered. */
  talkMs: number | null;
  /** Whole seconds of talk, rounded up (0 when never answered): what billing usually charges. */
  billableSeconds: number;
  answered: boolean;
  /** The INVITE's final status (200 when answered, 486, 487 when cancelled, ...); null when none came. */
  status: number | null;
  cause: 'bye' | 'cancel' | 'failure' | 'expired';
  /** The final status of the BYE that ended an answered call, null otherwise. */
  byeStatus: number | null;
}

/** A registration's accounting record, published when a binding ends (unregistered, replaced or expired). */
export interface AccountingRegistration {
  contact: string;
  /** The Agent or Peer registered, null when the AOR names none now. */
  resource: string | null;
  kind: 'Agent' | 'Peer' | null;
  transport: string;
  source: Address;
  /** When the binding was first made; refreshes keep it. */
  registeredAt: string;
  endedAt: string;
  durationMs: number;
  reason: 'unregistered' | 'expired';
}

export interface EventPayloads {
  'endpoint.registered': EndpointRegistered;
  'endpoint.unregistered': EndpointUnregistered;
  'call.started': CallStarted;
  'call.answered': CallAnswered;
  'call.ended': CallEnded;
  'trunk.registration': TrunkRegistration;
  'plugin.state': PluginState;
  'audit.change': AuditRecord;
  'accounting.call': AccountingCall;
  'accounting.registration': AccountingRegistration;
}

/** What a publisher is handed: the type's fields, and any common field it knows better than the defaults. */
export type EventInput<T extends EventType> = EventPayloads[T] & Partial<Pick<EventCommon, 'edge' | 'host' | 'callId' | 'aor' | 'routingType' | 'tenant'>>;

/** An event as it crosses the bus; `RoutrEvent` alone is the union of every type, narrowed by `type`. */
export type RoutrEvent<T extends EventType = EventType> = { [K in T]: EventCommon & EventPayloads[K] & { type: K } }[T];

export function isEventType(value: unknown): value is EventType {
  return typeof value === 'string' && (EVENT_TYPES as readonly string[]).includes(value);
}
