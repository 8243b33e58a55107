/**
 * A small programmable SIP user agent for tests, over real UDP, TCP, TLS or WebSocket (WS/WSS, on the `ws`
 * package, as a browser would) sockets, built on routr's own codec. It sends raw or structured messages and
 * waits for what comes back; it keeps no dialog state of its own, so each test spells out the exchange it
 * checks. `TestUA.tlsServer` listens instead of connecting: a TLS UAS the edge dials.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
import { WebSocket } from 'ws';
import { makeResponse, parseMessage, StreamFramer, stringifyMessage } from '../../core/sip/index.js';
import { isRequest, type SipMessage, type SipRequest, type SipResponse } from '../../core/sip/types.js';

export interface Received {
  message: SipMessage;
  raw: Buffer;
  from: { host: string; port: number };
}

type Waiter = { predicate: (m: SipMessage) => boolean; resolve: (r: Received) => void };

export type UaTransport = 'udp' | 'tcp' | 'tls' | 'ws' | 'wss';

export class TestUA {
  readonly transport: UaTransport;
  readonly received: Received[] = [];
  /** Messages the codec rejected (raw bytes), for tests that expect garbage back. */
  readonly unparsed: Buffer[] = [];
  /** A made-up host for Via and Contact, as RFC 7118 browsers write (`<random>.invalid`). */
  readonly invalidHost = `${Math.random().toString(36).slice(2, 12)}.invalid`;
  /** The local address (UDP UAs may bind another loopback address, e.g. to sit in a localnet). */
  host = '127.0.0.1';
  #udp?: dgram.Socket;
  #tcp?: net.Socket;
  #ws?: WebSocket;
  #server?: net.Server;
  /** Server mode: the accepted connection that last delivered a message (where replies go). */
  #lastPeer?: net.Socket;
  #port = 0;
  #waiters: Waiter[] = [];
  /** Called for every request received, before waiters; may answer it. */
  onRequest?: (request: SipRequest, ua: TestUA, from: { host: string; port: number }) => void;

  private constructor(transport: UaTransport) {
    this.transport = transport;
  }

  get port(): number {
    return this.#port;
  }

  /** A UDP UA bound on `host` (default 127.0.0.1; port 0: any free port). */
  static async udp(port = 0, host = '127.0.0.1'): Promise<TestUA> {
    const ua = new TestUA('udp');
    ua.host = host;
    const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    ua.#udp = socket;
    socket.on('message', (data, rinfo) => ua.#deliver(data, { host: rinfo.address, port: rinfo.port }));
    await new Promise<void>((resolve) => socket.bind(port, host, () => resolve()));
    ua.#port = socket.address().port;
    return ua;
  }

  /** A TCP UA connected to `remote`. */
  static async tcp(remote: { host: string; port: number }): Promise<TestUA> {
    const socket = net.connect(remote);
    await once(socket, 'connect');
    return TestUA.#stream(new TestUA('tcp'), socket, remote);
  }

  /** A TLS UA connected to `remote`, trusting `ca` (PEM); `cert`/`key` present a client certificate. */
  static async tls(remote: { host: string; port: number }, options: { ca?: Buffer; cert?: Buffer; key?: Buffer; maxVersion?: tls.SecureVersion } = {}): Promise<TestUA> {
    const socket = tls.connect({ ...remote, ca: options.ca, cert: options.cert, key: options.key, maxVersion: options.maxVersion });
    await once(socket, 'secureConnect');
    return TestUA.#stream(new TestUA('tls'), socket, remote);
  }

  /** A TLS UAS listening on 127.0.0.1 with `cert`/`key`; replies go over the connection that spoke last. */
  static tlsServer(options: { cert: Buffer; key: Buffer }, port = 0): Promise<TestUA> {
    return TestUA.#listen(new TestUA('tls'), tls.createServer({ cert: options.cert, key: options.key }), port);
  }

  /** A TCP UAS listening on 127.0.0.1; replies go over the connection that spoke last. */
  static tcpServer(port = 0): Promise<TestUA> {
    return TestUA.#listen(new TestUA('tcp'), net.createServer(), port);
  }

  static async #listen(ua: TestUA, server: net.Server, port: number): Promise<TestUA> {
    const connection = server instanceof tls.Server ? 'secureConnection' : 'connection';
    server.on(connection, (socket: net.Socket) => {
      const framer = new StreamFramer();
      socket.on('data', (chunk: Buffer) => {
        for (const event of framer.push(chunk)) {
          if (event.type !== 'message') continue;
          ua.#lastPeer = socket;
          ua.#deliver(Buffer.from(event.data), { host: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 });
        }
      });
      socket.on('error', () => {});
    });
    ua.#server = server;
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
    ua.#port = (server.address() as net.AddressInfo).port;
    return ua;
  }

  /** A WebSocket UA (`ws://` or `wss://` url) offering the `sip` subprotocol, like a browser's SIP stack. */
  static async ws(url: string, options: { ca?: Buffer; protocol?: string; autoPong?: boolean } = {}): Promise<TestUA> {
    const ua = new TestUA(url.startsWith('wss:') ? 'wss' : 'ws');
    const ws = new WebSocket(url, options.protocol ?? 'sip', { ca: options.ca, autoPong: options.autoPong ?? true });
    ws.on('upgrade', (res) => (ua.#port = res.socket.localPort ?? 0));
    await once(ws, 'open');
    ua.#ws = ws;
    const remote = new URL(url);
    ws.on('message', (data: Buffer) => ua.#deliver(Buffer.from(data), { host: remote.hostname, port: Number(remote.port) }));
    ws.on('error', () => {});
    return ua;
  }

  static #stream(ua: TestUA, socket: net.Socket, remote: { host: string; port: number }): TestUA {
    ua.#tcp = socket;
    ua.#port = socket.localPort ?? 0;
    const framer = new StreamFramer();
    socket.on('data', (chunk: Buffer) => {
      for (const event of framer.push(chunk)) {
        if (event.type === 'message') ua.#deliver(Buffer.from(event.data), remote);
      }
    });
    socket.on('error', () => {});
    return ua;
  }

  /** The connection is gone (closed by the peer or by us). */
  get closed(): boolean {
    if (this.#ws) return this.#ws.readyState === WebSocket.CLOSED;
    return this.#tcp ? this.#tcp.destroyed || this.#tcp.readableEnded : false;
  }

  #deliver(raw: Buffer, from: { host: string; port: number }): void {
    const datagram = this.transport === 'udp' || this.transport === 'ws' || this.transport === 'wss';
    const parsed = parseMessage(raw, { datagram });
    if (!parsed.ok) {
      this.unparsed.push(raw);
      return;
    }
    const received: Received = { message: parsed.message, raw, from };
    this.received.push(received);
    if (isRequest(parsed.message)) this.onRequest?.(parsed.message, this, from);
    for (const waiter of [...this.#waiters]) {
      if (waiter.predicate(parsed.message)) {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        waiter.resolve(received);
        return;
      }
    }
  }

  /** Send bytes or a message to `to` (UDP) or down the connection (TCP, TLS, WebSocket: one message a frame). */
  send(data: string | Uint8Array | SipMessage, to?: { host: string; port: number }): void {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data instanceof Uint8Array ? data : stringifyMessage(data);
    if (this.#udp) {
      if (!to) throw new Error('UDP send needs a destination');
      this.#udp.send(bytes, to.port, to.host);
    } else if (this.#ws) {
      this.#ws.send(bytes, { binary: false });
    } else {
      (this.#tcp ?? this.#lastPeer)?.write(bytes);
    }
  }

  /** Answer `request` (copying Via, From, To, Call-ID, CSeq) back to where it came from. */
  reply(request: SipRequest, status: number, options: { reason?: string; toTag?: string; headers?: Record<string, string | string[]>; to?: { host: string; port: number } } = {}): SipResponse {
    const response = makeResponse(request, status, options.reason ?? 'Test', { toTag: options.toTag, headers: options.headers });
    // A UAS copies Record-Route into responses that can establish a dialog (RFC 3261 12.1.1).
    const recordRoute = request.headers['record-route'];
    if (recordRoute && status > 100 && status < 300) response.headers['record-route'] = recordRoute;
    const via = request.headers.via[0];
    const to = options.to ?? { host: via.params.received ?? via.host, port: via.params.rport ? Number(via.params.rport) : via.port ?? 5060 };
    this.send(response, to);
    return response;
  }

  /**
   * Answer every call like a phone: INVITE gets 180 and 200 with `contact` (plus the Record-Route it came
   * with), any other request but ACK gets 200. For tests where the UA is the callee of sipp calls.
   */
  answerCalls(contact: string): void {
    let n = 0;
    this.onRequest = (request) => {
      if (request.method === 'ACK') return;
      if (request.method !== 'INVITE') {
        this.reply(request, 200);
        return;
      }
      const toTag = `answer${++n}`;
      this.reply(request, 180, { toTag });
      this.reply(request, 200, { toTag, headers: { Contact: contact } });
    };
  }

  /** The first message (already received or arriving within `timeoutMs`) that satisfies `predicate`. */
  waitFor(predicate: (m: SipMessage) => boolean, timeoutMs = 3000): Promise<Received> {
    const already = this.received.find((r) => predicate(r.message));
    if (already) {
      this.received.splice(this.received.indexOf(already), 1);
      return Promise.resolve(already);
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        predicate,
        resolve: (r) => {
          clearTimeout(timer);
          this.received.splice(this.received.indexOf(r), 1);
          resolve(r);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(new Error(`no matching SIP message within ${timeoutMs} ms (received: ${this.received.map(describe).join(', ') || 'nothing'})`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  waitForResponse(status: number, method?: string, timeoutMs?: number, callId?: string): Promise<Received> {
    return this.waitFor((m) => !isRequest(m) && m.status === status && (!method || m.headers.cseq.method === method) && (!callId || m.headers['call-id'] === callId), timeoutMs);
  }

  /** The next `method` request, of call `callId` when given (other calls' retransmissions are left alone). */
  waitForRequest(method: string, timeoutMs?: number, callId?: string): Promise<Received> {
    return this.waitFor((m) => isRequest(m) && m.method === method && (!callId || m.headers['call-id'] === callId), timeoutMs);
  }

  /**
   * The status of the next final response, read from its status line, whether or not the codec accepts the
   * rest of it (an error response echoes the malformed headers of the request it answers).
   */
  async nextFinalStatus(timeoutMs = 3000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const raw = this.unparsed.shift();
      const status = raw && /^SIP\/2\.0 (\d{3}) /.exec(raw.toString('latin1'))?.[1];
      if (status && Number(status) >= 200) return Number(status);
      const parsed = this.received.findIndex((r) => !isRequest(r.message) && r.message.status >= 200);
      if (parsed >= 0) return (this.received.splice(parsed, 1)[0].message as SipResponse).status;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`no final response within ${timeoutMs} ms`);
  }

  /** Resolves true if nothing matching arrives within `ms`. */
  async nothingWithin(ms: number, predicate: (m: SipMessage) => boolean = () => true): Promise<boolean> {
    try {
      await this.waitFor(predicate, ms);
      return false;
    } catch {
      return true;
    }
  }

  async close(): Promise<void> {
    this.#udp?.close();
    this.#tcp?.destroy();
    this.#lastPeer?.destroy();
    if (this.#ws && this.#ws.readyState !== WebSocket.CLOSED) {
      const closed = once(this.#ws, 'close');
      this.#ws.terminate();
      await closed;
    }
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }
}

export function describe(r: Received): string {
  const m = r.message;
  return isRequest(m) ? `${m.method} ${m.uri}` : `${m.status} ${m.reason} (${m.headers.cseq.method})`;
}

function once(emitter: { once(event: string, listener: (...args: unknown[]) => void): unknown }, event: string): Promise<void> {
  return new Promise((resolve, reject) => {
    emitter.once(event, () => resolve());
    emitter.once('error', (err) => reject(err as Error));
  });
}

let seq = 0;

/**
 * A fresh request text with the usual headers, for tests to send raw. WebSocket UAs write Via and Contact
 * with their `.invalid` host, as browsers do (RFC 7118 5.2, 7).
 */
export function requestText(options: {
  method: string;
  uri: string;
  ua: TestUA;
  /** The Contact value; default `<sip:alice@<ua address>>`; null for none. */
  contact?: string | null;
  /** The From URI; default `sip:alice@127.0.0.1`. */
  from?: string;
  /** The To URI; default the Request-URI. */
  to?: string;
  callId?: string;
  branch?: string;
  cseq?: number;
  fromTag?: string;
  toTag?: string;
  maxForwards?: number;
  headers?: string[];
  body?: string;
}): string {
  const n = ++seq;
  const ua = options.ua;
  const transport = ua.transport.toUpperCase();
  const webSocket = ua.transport === 'ws' || ua.transport === 'wss';
  const host = ua.host.includes(':') ? `[${ua.host}]` : ua.host;
  const sentBy = webSocket ? ua.invalidHost : `${host}:${ua.port}`;
  const contact = options.contact !== undefined ? options.contact : (webSocket ? `<sip:alice@${ua.invalidHost};transport=ws>` : `<sip:alice@${host}:${ua.port}${ua.transport === 'udp' ? '' : `;transport=${ua.transport}`}>`);
  const lines = [
    `${options.method} ${options.uri} SIP/2.0`,
    `Via: SIP/2.0/${transport} ${sentBy};branch=${options.branch ?? `z9hG4bK-test-${process.pid}-${n}`};rport`,
    `Max-Forwards: ${options.maxForwards ?? 70}`,
    `From: <${options.from ?? 'sip:alice@127.0.0.1'}>;tag=${options.fromTag ?? `from${n}`}`,
    `To: <${options.to ?? options.uri}>${options.toTag ? `;tag=${options.toTag}` : ''}`,
    `Call-ID: ${options.callId ?? `call-${process.pid}-${n}@test`}`,
    `CSeq: ${options.cseq ?? 1} ${options.method}`,
    ...(contact === null ? [] : [`Contact: ${contact}`]),
    ...(options.headers ?? []),
    `Content-Length: ${Buffer.byteLength(options.body ?? '')}`,
    '',
    options.body ?? '',
  ];
  return lines.join('\r\n');
}
