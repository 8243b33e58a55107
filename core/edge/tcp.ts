/**
 * TCP transport: stream framing by Content-Length (RFC 3261 18.3), CRLF keepalives (RFC 5626 3.5.1),
 * connection reuse. A response goes back over the connection its request came on; a request to a
 * host:port we already have a connection with reuses it (RFC 3261 18.1.1), otherwise a new one is opened.
 * Idle connections are closed after `idleTimeoutMs`.
 */
import net from 'node:net';
import type { ListeningPoint } from '../envelope.js';
import { StreamFramer } from '../sip/index.js';
import { normaliseAddress, TransportError, type Destination, type Inbound, type Transport } from './transport.js';

export interface StreamTransportOptions {
  bindAddr: string;
  port: number;
  idleTimeoutMs?: number;
  /** Connections accepted from one source IP at once; more are refused. */
  maxConnectionsPerSource?: number;
  connectTimeoutMs?: number;
  /** A stream that could not be framed (bad Content-Length, oversized headers): it is closed after this. */
  onProtocolError?: (source: { host: string; port: number }, reason: string) => void;
}

interface Connection {
  id: string;
  socket: net.Socket;
  remote: string;
}

const CRLF = new Uint8Array([13, 10]);

let connectionSeq = 0;

export class TcpTransport implements Transport {
  readonly protocol = 'tcp' as const;
  readonly reliable = true;
  #server: net.Server;
  #local: ListeningPoint;
  #options: StreamTransportOptions;
  #deliver: (inbound: Inbound) => void = () => {};
  readonly #byId = new Map<string, Connection>();
  readonly #byRemote = new Map<string, Connection>();
  readonly #perSource = new Map<string, number>();
  readonly #connecting = new Map<string, Promise<Connection>>();

  constructor(options: StreamTransportOptions) {
    this.#options = options;
    this.#local = { host: options.bindAddr, port: options.port, transport: 'tcp' };
    this.#server = net.createServer((socket) => this.#accept(socket));
  }

  get local(): ListeningPoint {
    return this.#local;
  }

  get connectionCount(): number {
    return this.#byId.size;
  }

  start(deliver: (inbound: Inbound) => void): Promise<void> {
    this.#deliver = deliver;
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(new TransportError(`tcp ${this.#options.bindAddr}:${this.#options.port}: ${err.message}`, { cause: err }));
      this.#server.once('error', onError);
      this.#server.listen(this.#options.port, this.#options.bindAddr, 511, () => {
        this.#server.off('error', onError);
        this.#server.on('error', () => {});
        const address = this.#server.address() as net.AddressInfo;
        this.#local = { ...this.#local, port: address.port };
        resolve();
      });
    });
  }

  #accept(socket: net.Socket): void {
    const host = normaliseAddress(socket.remoteAddress ?? '');
    const limit = this.#options.maxConnectionsPerSource ?? 1024;
    const count = this.#perSource.get(host) ?? 0;
    if (count >= limit) {
      socket.destroy();
      return;
    }
    this.#perSource.set(host, count + 1);
    socket.once('close', () => {
      const left = (this.#perSource.get(host) ?? 1) - 1;
      if (left <= 0) this.#perSource.delete(host);
      else this.#perSource.set(host, left);
    });
    this.#adopt(socket);
  }

  #adopt(socket: net.Socket): Connection {
    const host = normaliseAddress(socket.remoteAddress ?? '');
    const port = socket.remotePort ?? 0;
    const connection: Connection = { id: `tcp-${++connectionSeq}`, socket, remote: `${host}:${port}` };
    this.#byId.set(connection.id, connection);
    this.#byRemote.set(connection.remote, connection);
    socket.setNoDelay(true);
    socket.setTimeout(this.#options.idleTimeoutMs ?? 300_000, () => socket.destroy());
    const framer = new StreamFramer();
    const source = { host, port, transport: 'tcp' as const };
    socket.on('data', (chunk: Buffer) => {
      for (const event of framer.push(chunk)) {
        if (event.type === 'message') {
          this.#deliver({ data: event.data, source, local: this.#local, connectionId: connection.id });
        } else if (event.type === 'keepalive') {
          if (event.pong) socket.write(CRLF);
        } else {
          // A stream we can no longer frame cannot be resynchronised: close it.
          this.#options.onProtocolError?.(source, event.reason);
          socket.destroy();
          return;
        }
      }
    });
    socket.on('error', () => socket.destroy());
    socket.once('close', () => {
      this.#byId.delete(connection.id);
      if (this.#byRemote.get(connection.remote) === connection) this.#byRemote.delete(connection.remote);
    });
    return connection;
  }

  async send(destination: Destination, data: Uint8Array): Promise<void> {
    let connection = destination.connectionId ? this.#byId.get(destination.connectionId) : undefined;
    connection ??= this.#byRemote.get(`${destination.host}:${destination.port}`);
    connection ??= await this.#connect(destination);
    await write(connection.socket, data);
  }

  #connect(destination: Destination): Promise<Connection> {
    const key = `${destination.host}:${destination.port}`;
    const pending = this.#connecting.get(key);
    if (pending) return pending;
    const attempt = new Promise<Connection>((resolve, reject) => {
      const socket = net.connect({ host: destination.host, port: destination.port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new TransportError(`tcp connect to ${key}: timed out`));
      }, this.#options.connectTimeoutMs ?? 5000);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(this.#adopt(socket));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(new TransportError(`tcp connect to ${key}: ${err.message}`, { cause: err }));
      });
    }).finally(() => this.#connecting.delete(key));
    this.#connecting.set(key, attempt);
    return attempt;
  }

  close(): Promise<void> {
    for (const connection of this.#byId.values()) connection.socket.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

function write(socket: net.Socket, data: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.destroyed) {
      reject(new TransportError('connection closed'));
      return;
    }
    socket.write(data, (err) => (err ? reject(new TransportError(`tcp write: ${err.message}`, { cause: err })) : resolve()));
  });
}
