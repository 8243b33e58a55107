/**
 * WebSocket transports, WS and WSS (RFC 7118), on the `ws` package. The handshake must offer the `sip`
 * subprotocol (`Sec-WebSocket-Protocol: sip`); anything else is refused with 400 before a WebSocket exists.
 * Every WebSocket message carries exactly one SIP message (RFC 7118 5.1), so nothing is framed here: the proxy
 * parses each one as a datagram. A message of nothing but CRLFs is a keepalive: a double CRLF is answered
 * with a CRLF, as SIP.js and others expect (RFC 5626 4.4.1 applied to WebSocket).
 *
 * The edge never dials a browser: a request for a WebSocket destination goes over the connection that
 * destination opened (keyed by its remote host:port), or fails as a transport error, which the proxy answers
 * 503. Liveness is WebSocket ping/pong: every `pingIntervalMs` each connection is pinged, and one that has
 * sent nothing at all since the previous ping (not even the pong) is terminated. Live browsers answer pings
 * by themselves, so they stay connected and reachable however long they are otherwise quiet; dead ones are
 * gone within two intervals. WSS is the same over an HTTPS server with the transport's `tls` settings.
 */
import { isUtf8, Buffer } from '../runtime/bytes.js';
import { http, https } from '../runtime/http.js';
import type { net } from '../runtime/net.js';
import { WebSocketServer, type RawData, type WebSocket } from '../runtime/ws.js';
import type { ListeningPoint } from '../envelope.js';
import { loadTlsMaterial, serverTlsOptions, type TlsSettings } from '../config/tls-files.js';
import { SourceLimit } from './source-limit.js';
import { OPEN_GUARD } from '../shield/guard.js';
import { listenServer, normaliseAddress, TransportError, type Destination, type Inbound, type Transport, type TransportBounds } from './transport.js';

export interface WsTransportOptions extends TransportBounds {
  protocol: 'ws' | 'wss';
  bindAddr: string;
  port: number;
  /** Only upgrades on this path are accepted (e.g. `/sip`); any path when absent. */
  path?: string;
  /** Required for wss. */
  tls?: TlsSettings;
  /** Bounds how long a silent connection is kept; the ping interval is derived from it. Default 300 s. */
  idleTimeoutMs?: number;
  /** Default: a third of idleTimeoutMs, at most 30 s. */
  pingIntervalMs?: number;
  maxConnectionsPerSource?: number;
}

interface Connection {
  id: string;
  ws: WebSocket;
  remote: string;
  /** Something arrived since the last ping. */
  alive: boolean;
}

const CRLF = '\r\n';

let connectionSeq = 0;

export class WsTransport implements Transport {
  readonly protocol: 'ws' | 'wss';
  readonly reliable = true;
  readonly warnings: string[] = [];
  #server: http.Server | https.Server | undefined;
  #sockets: WebSocketServer | undefined;
  #local: ListeningPoint;
  readonly #options: WsTransportOptions;
  #deliver: (inbound: Inbound) => void = () => {};
  readonly #byId = new Map<string, Connection>();
  readonly #byRemote = new Map<string, Connection>();
  readonly #limit: SourceLimit;
  #heartbeat: ReturnType<typeof setInterval> | undefined;

  constructor(options: WsTransportOptions) {
    this.#options = options;
    this.protocol = options.protocol;
    this.#limit = new SourceLimit({ maxPerSource: options.maxConnectionsPerSource, budget: options.budget, guard: options.guard, onLimit: options.onLimit });
    this.#local = { host: options.bindAddr, port: options.port, transport: options.protocol };
  }

  get local(): ListeningPoint {
    return this.#local;
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
    let server: http.Server | https.Server;
    try {
      server = this.#createServer();
    } catch (err) {
      return Promise.reject(new TransportError(`${where}: ${(err as Error).message}`, { cause: err }));
    }
    this.#server = server;
    this.#sockets = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: this.#options.maxMessageBytes ?? 65_535,
      handleProtocols: () => 'sip',
    });
    // The HTTP handshake is bounded like a SIP header block (slowloris before the upgrade).
    server.headersTimeout = this.#options.headerTimeoutMs ?? 10_000;
    server.requestTimeout = this.#options.headerTimeoutMs ?? 10_000;
    server.on('connection', (socket: net.Socket) => this.#limit.admit(socket));
    server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => this.#upgrade(req, socket, head));
    // A plain HTTP request to a SIP WebSocket port: say what this port speaks.
    server.on('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
      res.writeHead(426, { Upgrade: 'websocket', 'Content-Type': 'text/plain' }).end('SIP over WebSocket (RFC 7118): upgrade with Sec-WebSocket-Protocol: sip\n');
    });
    return listenServer(server, this.#options.port, this.#options.bindAddr, where).then((port) => {
      this.#local = { ...this.#local, port };
      const idle = this.#options.idleTimeoutMs ?? 300_000;
      this.#heartbeat = setInterval(() => this.#ping(), this.#options.pingIntervalMs ?? Math.min(30_000, Math.ceil(idle / 3)));
      this.#heartbeat.unref();
    });
  }

  #createServer(): http.Server | https.Server {
    if (this.protocol === 'ws') return http.createServer();
    if (!this.#options.tls) throw new Error('wss needs tls settings (cert and key)');
    const material = loadTlsMaterial(this.#options.tls);
    this.warnings.push(...material.warnings);
    const server = https.createServer(serverTlsOptions(material));
    server.on('tlsClientError', (_err: Error, socket: net.Socket) => socket.destroy());
    return server;
  }

  #upgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    const path = this.#options.path;
    if (path && (req.url ?? '/').split('?')[0] !== path) {
      refuse(socket, 404, 'Not Found');
      return;
    }
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    if (!offered.includes('sip')) {
      // RFC 7118 4: the subprotocol is "sip"; a client not speaking it has nothing to say to us.
      refuse(socket, 400, 'Bad Request', 'Sec-WebSocket-Protocol must offer "sip" (RFC 7118)');
      return;
    }
    this.#sockets?.handleUpgrade(req, socket, head, (ws) => this.#adopt(ws, socket));
  }

  #adopt(ws: WebSocket, socket: net.Socket): void {
    const host = normaliseAddress(socket.remoteAddress ?? '');
    const port = socket.remotePort ?? 0;
    const connection: Connection = { id: `${this.protocol}-${++connectionSeq}`, ws, remote: `${host}:${port}`, alive: true };
    this.#byId.set(connection.id, connection);
    this.#byRemote.set(connection.remote, connection);
    socket.setNoDelay(true);
    const source = { host, port, transport: this.protocol };
    const guard = this.#options.guard ?? OPEN_GUARD;
    ws.on('message', (data: RawData) => {
      connection.alive = true;
      const bytes = toBuffer(data);
      if (!guard.admit(host, bytes)) {
        ws.terminate();
        return;
      }
      if (isOnlyCrlf(bytes)) {
        if (bytes.length >= 4) ws.send(CRLF);
        return;
      }
      this.#deliver({ data: bytes, source, local: this.#local, connectionId: connection.id });
    });
    ws.on('pong', () => (connection.alive = true));
    ws.on('ping', () => (connection.alive = true));
    ws.on('error', (err: Error) => {
      if (/max payload/i.test(err.message)) this.#options.onLimit?.('message_size');
      ws.terminate();
    });
    ws.once('close', () => {
      this.#byId.delete(connection.id);
      if (this.#byRemote.get(connection.remote) === connection) this.#byRemote.delete(connection.remote);
    });
  }

  #ping(): void {
    for (const connection of this.#byId.values()) {
      if (!connection.alive) {
        connection.ws.terminate();
        continue;
      }
      connection.alive = false;
      connection.ws.ping();
    }
  }

  send(destination: Destination, data: Uint8Array): Promise<void> {
    let connection = destination.connectionId ? this.#byId.get(destination.connectionId) : undefined;
    connection ??= this.#byRemote.get(`${destination.host}:${destination.port}`);
    if (!connection || connection.ws.readyState !== connection.ws.OPEN) {
      return Promise.reject(new TransportError(`${this.protocol}: no connection with ${destination.host}:${destination.port} (a WebSocket peer must connect to us)`));
    }
    const ws = connection.ws;
    if (ws.bufferedAmount + data.byteLength > (this.#options.maxWriteBufferBytes ?? 1024 * 1024)) {
      // A peer that does not read: drop it rather than buffer for it without end.
      this.#options.onLimit?.('write_buffer');
      ws.terminate();
      return Promise.reject(new TransportError(`${this.protocol}: ${connection.remote} is not reading`));
    }
    return new Promise((resolve, reject) => {
      // Text frames for UTF-8 (what browsers' SIP stacks read first); binary only for a body that is not text.
      ws.send(data, { binary: !isUtf8(data) }, (err) => (err ? reject(new TransportError(`${this.protocol} send: ${err.message}`, { cause: err })) : resolve()));
    });
  }

  async close(): Promise<void> {
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    for (const connection of this.#byId.values()) connection.ws.terminate();
    this.#sockets?.close();
    const server = this.#server;
    if (!server?.listening) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function refuse(socket: net.Socket, status: number, reason: string, body = ''): void {
  const response = `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  socket.end(response, () => socket.destroy());
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** An empty message or CRLFs only: a keepalive, not a SIP message. */
function isOnlyCrlf(bytes: Buffer): boolean {
  if (bytes.length % 2 !== 0) return false;
  for (let i = 0; i < bytes.length; i += 2) if (bytes[i] !== 13 || bytes[i + 1] !== 10) return false;
  return true;
}
