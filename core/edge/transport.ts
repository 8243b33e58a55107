/**
 * The transport seam of the edge: every protocol (UDP, TCP, TLS, WS, WSS) is a `Transport` that delivers
 * inbound bytes with the socket source and sends bytes to a destination or back over a connection.
 * The transaction layer and proxy above never touch sockets.
 */
import type { Server } from '../runtime/net.js';
import type { ListeningPoint, Sender } from '../envelope.js';
import type { SourceGuard } from '../shield/guard.js';
import type { TransportName } from '../sip/types.js';

export interface Inbound {
  data: Uint8Array;
  source: Sender;
  /** The listening point it arrived on. */
  local: ListeningPoint;
  /** Set for connection-oriented transports: the connection it arrived on (for replies and reuse). */
  connectionId?: string;
}

/** Where to send: a connection if we have one, otherwise an address. */
export interface Destination {
  host: string;
  port: number;
  transport: TransportName;
  connectionId?: string;
  /** Send from this listening point (its socket, so the peer sees our port as the source). */
  local?: ListeningPoint;
  /** The host name the URI named, before DNS: TLS sends it as SNI and checks the certificate against it. */
  serverName?: string;
}

export interface Transport {
  readonly protocol: TransportName;
  readonly reliable: boolean;
  /** Bound address and port (the port is the real one when 0 was configured). */
  readonly local: ListeningPoint;
  start(deliver: (inbound: Inbound) => void): Promise<void>;
  /** Send bytes; rejects on a transport error (connection refused, unreachable, closed connection). */
  send(destination: Destination, data: Uint8Array): Promise<void>;
  close(): Promise<void>;
  /** Connection-oriented transports: whether a connection with this remote address is open (flow reuse). */
  hasConnection?(host: string, port: number): boolean;
  /** Problems found at start that do not stop the transport (a certificate close to expiry); logged by the edge. */
  readonly warnings?: readonly string[];
}

/** Called when a bound is reached; the edge counts it in routr_edge_limit_hits_total. */
export type LimitListener = (limit: string) => void;

/** Open connections across every connection-oriented transport of one edge. */
export class ConnectionBudget {
  open = 0;
  constructor(readonly max: number) {}
}

/** The bounds every transport enforces (config spec.edge and the transport entry's maxMessageBytes). */
export interface TransportBounds {
  /** Asked about every datagram, connection and framed message before parsing. */
  guard?: SourceGuard;
  /** Largest message accepted (header block and body). Default 65535. */
  maxMessageBytes?: number;
  /** Connection-oriented transports: open connections across the edge. */
  budget?: ConnectionBudget;
  /** Header block deadline from a message's first octet (and for the first message after accept). */
  headerTimeoutMs?: number;
  bodyTimeoutMs?: number;
  /** A peer with more than this queued and unread is dropped. */
  maxWriteBufferBytes?: number;
  /** Told when a bound is reached (routr_edge_limit_hits_total). */
  onLimit?: LimitListener;
}

export function isReliable(transport: TransportName): boolean {
  return transport !== 'udp';
}

/** WebSocket transports carry one SIP message per WebSocket message (RFC 7118 5.1). */
export function isWebSocket(transport: TransportName): boolean {
  return transport === 'ws' || transport === 'wss';
}

/** Each datagram or WebSocket message is exactly one message: parse with `datagram: true` (RFC 3261 18.3). */
export function isMessageFramed(transport: TransportName): boolean {
  return transport === 'udp' || transport === 'ws' || transport === 'wss';
}

/** Normalise IPv4-mapped IPv6 (`::ffff:1.2.3.4`) to plain IPv4, as peers expect to see it in received=. */
export function normaliseAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

export class TransportError extends Error {
  override name = 'TransportError';
}

/**
 * Listen on `port` and `bindAddr` (backlog 511); resolves to the bound port, rejects with a TransportError naming
 * `where`. Errors after that are the connections' business, so the server's own error events are then ignored.
 */
export function listenServer(server: Server, port: number, bindAddr: string, where: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(new TransportError(`${where}: ${err.message}`, { cause: err }));
    server.once('error', onError);
    server.listen(port, bindAddr, 511, () => {
      server.off('error', onError);
      server.on('error', () => {});
      resolve((server.address() as { port: number }).port);
    });
  });
}
