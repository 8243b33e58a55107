/**
 * The bus module's public surface: every export is named here, nothing else is part of the API.
 *
 * `createBus` is the one place that picks an implementation: the embedded MemoryBus when no NATS url is
 * configured, NatsBus otherwise. NATS is loaded lazily, so the embedded default never loads a NATS client.
 */
import type { Logger } from '../log.js';
import { MemoryBus } from './memory.js';
import type { NatsBusOptions, NatsCredentials } from './nats.js';
import type { Bus } from './types.js';

export type {
  Bus,
  BusStatus,
  KvEntry,
  KvOptions,
  KvStore,
  KvWatchEvent,
  MessageHandler,
  Payload,
  RequestHandler,
  RequestOptions,
  ServeOptions,
  Subscription,
} from './types.js';
export {
  BusClosedError,
  BusError,
  BusHandlerError,
  BusNoRespondersError,
  BusTimeoutError,
  KvConflictError,
} from './types.js';
export {
  BUS_PROTOCOL_VERSION,
  HOSTS_QUEUE,
  EVENTS_SUBJECT,
  PROCESS_SUBJECT,
  TRACE_QUERY_SUBJECT,
  TRACE_REPLY_PREFIX,
  anyEdgeSubject,
  assertSubject,
  bucketName,
  edgeSubject,
  eventSubject,
  fromSubjectToken,
  subjectMatches,
  subjectToken,
  traceReplySubject,
} from './subjects.js';
export { MAX_KV_HISTORY, MIN_KV_TTL_MS } from './rules.js';
export { MemoryBus, MemoryHub, type MemoryBusOptions } from './memory.js';
export type { NatsBusOptions, NatsCredentials, NatsTransport } from './nats.js';

export interface CreateBusOptions {
  /** NATS server url(s), comma-separated; absent or empty: the in-process MemoryBus. */
  url?: string;
  /** This node's name on the bus, e.g. `routr-edge-ep1`; NATS shows it per connection. */
  name: string;
  logger?: Logger;
  /** For a NATS server with authorization. */
  credentials?: NatsCredentials;
}

export async function createBus(options: CreateBusOptions): Promise<Bus> {
  if (!options.url) {
    options.logger?.info({ bus: 'memory' }, 'no NATS url configured; using the embedded in-process bus');
    return new MemoryBus({ logger: options.logger });
  }
  const { NatsBus } = await import('./nats.js');
  return NatsBus.connect(options.url, { name: options.name, logger: options.logger, credentials: options.credentials });
}

/** Connect a NatsBus with every option (reconnect timing, transport); createBus covers the common case. */
export async function connectNatsBus(url: string, options: NatsBusOptions): Promise<Bus> {
  const { NatsBus } = await import('./nats.js');
  return NatsBus.connect(url, options);
}
