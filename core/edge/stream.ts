/**
 * The stream transports, TCP and TLS: one implementation over `net` and `tls` sockets. Streams are framed by
 * Content-Length (RFC 3261 18.3); a double-CRLF keepalive is answered with a CRLF (RFC 5626 3.5.1).
 *
 * Connections are reused both ways (RFC 3261 18.1.1, 18.2.2): a response goes back over the connection its
 * request came on, and a request to a host:port we already hold a connection with — a client that connected
 * to us and registered — goes over that connection. Only when there is none is a new one opened. Accepted
 * connections are limited per source address (counted before any TLS handshake, so a flood of half-open
 * handshakes hits the limit too), and a connection with no traffic either way for `idleTimeoutMs` is closed.
 */
import { net } from '../runtime/net.js';
import type { ListeningPoint } from '../envelope.js';
import { OPEN_GUARD } from '../shield/guard.js';
import { StreamFramer } from '../sip/index.js';
import { SourceLimit } from './source-limit.js';
import { listenServer, normaliseAddress, TransportError, type Destination, type Inbound, type Transport, type TransportBounds } from './transport.js';
import type { Buffer } from '../runtime/bytes.js';

export interface StreamTransportOptions extends TransportBounds {
  bindAddr: string;
  port: number;
  idleTimeoutMs?: number;
  /** Connections accepted from one source IP at once; more are refused. */
  maxConnectionsPerSource?: number;
  connectTimeoutMs?: number;
  /** A stream that could not be framed (bad Content-Length, oversized headers): it is closed after this. */
  onProtocolError?: (source: { host: string; port: number }, reason: string) => void;
}

/** What differs between TCP and TLS: how the server is made and how a connection is opened. */
export interface StreamFlavor {
  readonly protocol: 'tcp' | 'tls';
  /** Runs in start(), before binding: TLS reads and checks its certificate here. */
  prepare?(): void;
  /** The listening server, without a connection listener. */
  createServer(): net.Server;
  /** The server event that hands over a socket ready for SIP (after the handshake for TLS). */
  readonly acceptEvent: 'connection' | 'secureConnection';
  /** Open a connection; `readyEvent` fires when SIP may flow over it. */
  connect(destination: Destination): { socket: net.Socket; readyEvent: 'connect' | 'secureConnect' };
  readonly warnings?: readonly string[];
}

interface Connection {
  id: string;
  socket: net.Socket;
  remote: string;
}

const CRLF = new Uint8Array([13, 10]);

let connectionSeq = 0;

export class StreamTransport implements Transport {
  readonly protocol: 'tcp' | 'tls';
  readonly reliable = true;
  #server: net.Server | undefined;
  #local: ListeningPoint;
  readonly #options: StreamTransportOptions;
  readonly #flavor: StreamFlavor;
  #deliver: (inbound: Inbound) => void = () => {};
  readonly #byId = new Map<string, Connection>();
  readonly #byRemote = new Map<string, Connection>();
  readonly #limit: SourceLimit;
  readonly #connecting = new Map<string, Promise<Connection>>();

  constructor(options: StreamTransportOptions, flavor: StreamFlavor) {
    this.#options = options;
    this.#flavor = flavor;
    this.#limit = new SourceLimit({ maxPerSource: options.maxConnectionsPerSource, budget: options.budget, guard: options.guard, onLimit: options.onLimit });
    this.protocol = flavor.protocol;
    this.#local = { host: options.bindAddr, port: options.port, transport: flavor.protocol };
  }

  get local(): ListeningPoint {
    return this.#local;
  }

  get warnings(): readonly string[] {
    return this.#flavor.warnings ?? [];
  }

  get connectionCount(): number {
    return this.#byId.size;
  }

  hasConnection(host: string, port: number): boolean {
    return this.#byRemote.has(`${host}:${port}`);
  }

  start(deliver: (inbound: Inbound) => void): Promise<void> {
    this.#deliver = deliver;
    const where = `${this.protocol} ${this.#options.bindAddr}:${this.#options.port}`;
    try {
      this.#flavor.prepare?.();
    } catch (err) {
      return Promise.reject(new TransportError(`${where}: ${(err as Error).message}`, { cause: err }));
    }
    const server = this.#flavor.createServer();
    this.#server = server;
    // Registered before the accept listener: a source over its limit is dropped before any handshake.
    server.on('connection', (socket: net.Socket) => this.#limit.admit(socket));
    server.on(this.#flavor.acceptEvent, (socket: net.Socket) => this.#adopt(socket, true));
    return listenServer(server, this.#options.port, this.#options.bindAddr, where).then((port) => {
      this.#local = { ...this.#local, port };
    });
  }

  #adopt(socket: net.Socket, accepted: boolean): Connection | undefined {
    if (socket.destroyed) return undefined;
    const host = normaliseAddress(socket.remoteAddress ?? '');
    const port = socket.remotePort ?? 0;
    const connection: Connection = { id: `${this.protocol}-${++connectionSeq}`, socket, remote: `${host}:${port}` };
    this.#byId.set(connection.id, connection);
    this.#byRemote.set(connection.remote, connection);
    socket.setNoDelay(true);
    socket.setTimeout(this.#options.idleTimeoutMs ?? 300_000, () => socket.destroy());
    const options = this.#options;
    const maxMessageBytes = options.maxMessageBytes ?? 65_535;
    const framer = new StreamFramer({ maxMessageBytes, maxBodyBytes: maxMessageBytes });
    const source = { host, port, transport: this.protocol };
    const guard = options.guard ?? OPEN_GUARD;
    // Slowloris: a message's header block (and then its body) must arrive within a deadline from its first
    // octet, whatever trickles in meanwhile; an accepted connection must start its first message in time too.
    let deadline: ReturnType<typeof setTimeout> | undefined;
    let phase: 'idle' | 'headers' | 'body' | 'first' = accepted ? 'first' : 'idle';
    const expire = (limit: string) => () => {
      options.onLimit?.(limit);
      socket.destroy();
    };
    const track = (next: 'idle' | 'headers' | 'body' | 'first', restart = false) => {
      // The same phase of the same message keeps its deadline; a new message gets a new one.
      if (next === phase && deadline !== undefined && !restart) return;
      if (deadline !== undefined) clearTimeout(deadline);
      deadline = undefined;
      phase = next;
      if (next === 'body') deadline = setTimeout(expire('body_timeout'), options.bodyTimeoutMs ?? 10_000);
      else if (next !== 'idle') deadline = setTimeout(expire('header_timeout'), options.headerTimeoutMs ?? 10_000);
    };
    if (accepted) track('first');
    socket.on('data', (chunk: Buffer) => {
      let delivered = false;
      for (const event of framer.push(chunk)) {
        if (event.type === 'message') {
          delivered = true;
          if (!guard.admit(host, event.data)) {
            // Banned while connected (or flooding over it): the connection goes too.
            socket.destroy();
            return;
          }
          this.#deliver({ data: event.data, source, local: this.#local, connectionId: connection.id });
        } else if (event.type === 'keepalive') {
          if (event.pong) socket.write(CRLF);
        } else {
          // A stream we can no longer frame cannot be resynchronised: close it.
          if (event.reason.includes('exceeds')) options.onLimit?.('message_size');
          this.#options.onProtocolError?.(source, event.reason);
          socket.destroy();
          return;
        }
      }
      const now = framer.phase;
      // Keepalives alone do not lift the first-message deadline; a message does.
      if (delivered || now !== 'idle' || phase !== 'first') track(now, delivered);
    });
    socket.on('error', () => socket.destroy());
    socket.once('close', () => {
      if (deadline !== undefined) clearTimeout(deadline);
      this.#byId.delete(connection.id);
      if (this.#byRemote.get(connection.remote) === connection) this.#byRemote.delete(connection.remote);
    });
    return connection;
  }

  async send(destination: Destination, data: Uint8Array): Promise<void> {
    let connection = destination.connectionId ? this.#byId.get(destination.connectionId) : undefined;
    connection ??= this.#byRemote.get(`${destination.host}:${destination.port}`);
    connection ??= await this.#connect(destination);
    const socket = connection.socket;
    const max = this.#options.maxWriteBufferBytes ?? 1024 * 1024;
    if (socket.writableLength + data.byteLength > max) {
      // A peer that does not read: drop it rather than buffer for it without end.
      this.#options.onLimit?.('write_buffer');
      socket.destroy();
      throw new TransportError(`${this.protocol}: ${connection.remote} is not reading (${socket.writableLength} octets queued)`);
    }
    await write(socket, data);
  }

  #connect(destination: Destination): Promise<Connection> {
    const key = `${destination.host}:${destination.port}`;
    const pending = this.#connecting.get(key);
    if (pending) return pending;
    const what = `${this.protocol} connect to ${key}`;
    const attempt = new Promise<Connection>((resolve, reject) => {
      const { socket, readyEvent } = this.#flavor.connect(destination);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new TransportError(`${what}: timed out`));
      }, this.#options.connectTimeoutMs ?? 5000);
      socket.once(readyEvent, () => {
        clearTimeout(timer);
        const connection = this.#adopt(socket, false);
        if (connection) resolve(connection);
        else reject(new TransportError(`${what}: closed at once`));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        socket.destroy();
        reject(new TransportError(`${what}: ${err.message}`, { cause: err }));
      });
    }).finally(() => this.#connecting.delete(key));
    this.#connecting.set(key, attempt);
    return attempt;
  }

  close(): Promise<void> {
    for (const connection of this.#byId.values()) connection.socket.destroy();
    const server = this.#server;
    if (!server?.listening) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }
}

function write(socket: net.Socket, data: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.destroyed) {
      reject(new TransportError('connection closed'));
      return;
    }
    socket.write(data, (err) => (err ? reject(new TransportError(`write: ${err.message}`, { cause: err })) : resolve()));
  });
}
