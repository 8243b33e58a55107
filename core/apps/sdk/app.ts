/**
 * An application that decides SIP requests for routr from outside the sandbox, shaped after drachtio-srf:
 *
 *   const app = new App({ name: 'voicemail', servers: 'nats://10.0.0.1:4222', token: process.env.TOKEN });
 *   app.use((req, res, next) => { log(req); next(); });
 *   app.invite((req, res) => res.forward('sip:vm@10.0.0.9'));
 *   app.on('connect', (server) => ...).on('error', (err) => ...).on('reconnect', (server) => ...);
 *
 * It connects by itself (unless `autoConnect: false`; `await app.connect()` either way), keeps reconnecting
 * with backoff, and announces itself on its presence subject every `heartbeatMs`, signed with its token, so
 * every host knows it is there. Requests come on its own instance subject; each one runs the handlers in the
 * order they were added (`use` ones for every method, `invite`/`bye`/... for one), until one answers with
 * `res.send`, `res.forward` or `res.decide`. A handler that throws, or a chain that ends unanswered, answers the
 * request with an error (routr sends 500). `close()` says goodbye (hosts send no new requests), answers what is
 * in flight, then disconnects.
 */
import type { Bus, Subscription } from '../../bus/types.js';
import type { Decision, MessageEnvelope } from '../../envelope.js';
import {
  ANNOUNCE_SUBJECT,
  AppSigner,
  APP_NAME,
  PONG_FRAME,
  decodeFrame,
  encodeFrame,
  instanceSubject,
  noticeSubject,
  presenceSubject,
  randomId,
  UNSIGNED,
  type PresenceBody,
  type RequestBody,
} from '../protocol.js';
import { Emitter } from './emitter.js';
import { BusLink, NatsLink, type Link, type NatsConnect } from './link.js';
import { AppRequest, AppResponse } from './request.js';
import type { ConnectionOptions } from '@nats-io/transport-node';

export const SDK_VERSION = 'routr-app/1';

export type Next = (err?: unknown) => void;
export type Handler = (req: AppRequest, res: AppResponse, next: Next) => void | Promise<void>;

export interface AppOptions {
  /** The app's name: what processor entries (`app: <name>`) and web callbacks (`{"app": "<name>"}`) call it. */
  name: string;
  /** NATS server url(s) of the routr cluster (any of them): a list, or one string, comma-separated. */
  servers?: string | string[];
  /** In-process instead: the routr server's own bus (`server.bus`), for an app embedded beside routr. */
  bus?: Bus;
  /** The app's token (spec.host.apps[].token). Absent: frames go unsigned, for `auth: nats` apps. */
  token?: string;
  /** Methods this app takes; default: those it has handlers for (every method once it has a `use` handler). */
  methods?: string[];
  /** How often it tells the hosts it is alive; a host drops it after three missed. Default 1000 ms. */
  heartbeatMs?: number;
  /** Extra nats.js connection options: user and pass, an authenticator for NATS credentials, tls... */
  nats?: Partial<ConnectionOptions>;
  /** The NATS transport's connect (default: @nats-io/transport-node's; Deno may pass transport-deno's). */
  connect?: NatsConnect;
  /** Connect from the constructor (default true); otherwise call `connect()`. */
  autoConnect?: boolean;
}

export interface AppEvents extends Record<string, unknown[]> {
  /** Connected and announced (the server it reached). */
  connect: [server: string];
  /** Back after losing the connection; presence is sent again at once. */
  reconnect: [server: string];
  disconnect: [server: string];
  /** Connection failures, a presence refused by a host (wrong token), handler failures. */
  error: [err: Error];
  close: [];
}

/** A host refused this app's presence: it does not hold the token routr has for the name. */
export class AppRefusedError extends Error {
  override name = 'AppRefusedError';
}

const MAX_REQUEST_MS = 60_000;
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

interface Entry {
  method: string | undefined;
  handler: Handler;
}

export class App extends Emitter<AppEvents> {
  readonly name: string;
  /** This connection's id: requests come on its own subject, and hosts balance over instances by it. */
  readonly instance = randomId(8);
  readonly #options: AppOptions;
  readonly #handlers: Entry[] = [];
  #signer: Promise<AppSigner>;
  #link: Link | undefined;
  #connecting: Promise<void> | undefined;
  #subscriptions: Subscription[] = [];
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #seq = 0;
  #inflight = new Set<Promise<void>>();
  #closing: Promise<void> | undefined;
  #presenceQueued = false;

  constructor(options: AppOptions) {
    super();
    if (!APP_NAME.test(options.name)) throw new TypeError(`app name "${options.name}" must match ${APP_NAME.source}`);
    if (!options.bus && !options.servers) throw new TypeError('App needs servers (NATS urls) or bus (routr in-process)');
    if (options.token !== undefined && options.token.length < 16) throw new TypeError('the app token must be at least 16 characters');
    this.name = options.name;
    this.#options = options;
    this.#signer = AppSigner.create(options.name, options.token);
    if (options.autoConnect !== false) queueMicrotask(() => void this.connect().catch(() => undefined));
  }

  /** Run `handler` for requests of every method (or of `method`), before handlers added later. */
  use(handler: Handler): this;
  use(method: string, handler: Handler): this;
  use(a: string | Handler, b?: Handler): this {
    if (typeof a === 'function') this.#handlers.push({ method: undefined, handler: a });
    else this.#handlers.push({ method: a.toUpperCase(), handler: b as Handler });
    return this;
  }

  invite(handler: Handler): this { return this.use('INVITE', handler); }
  ack(handler: Handler): this { return this.use('ACK', handler); }
  bye(handler: Handler): this { return this.use('BYE', handler); }
  cancel(handler: Handler): this { return this.use('CANCEL', handler); }
  register(handler: Handler): this { return this.use('REGISTER', handler); }
  options(handler: Handler): this { return this.use('OPTIONS', handler); }
  info(handler: Handler): this { return this.use('INFO', handler); }
  update(handler: Handler): this { return this.use('UPDATE', handler); }
  prack(handler: Handler): this { return this.use('PRACK', handler); }
  subscribe(handler: Handler): this { return this.use('SUBSCRIBE', handler); }
  notify(handler: Handler): this { return this.use('NOTIFY', handler); }
  refer(handler: Handler): this { return this.use('REFER', handler); }
  message(handler: Handler): this { return this.use('MESSAGE', handler); }
  publish(handler: Handler): this { return this.use('PUBLISH', handler); }

  /** The methods announced to hosts (null: every method). */
  get methods(): string[] | null {
    if (this.#options.methods) return this.#options.methods.map((m) => m.toUpperCase());
    // A `use` handler may answer any method, so it makes the app take them all; pass `methods` to narrow that.
    if (this.#handlers.length === 0 || this.#handlers.some((h) => h.method === undefined)) return null;
    return [...new Set(this.#handlers.map((h) => h.method as string))];
  }

  /** Requests being handled now. */
  get inflight(): number {
    return this.#inflight.size;
  }

  /** Resolves once connected and announced; retries with backoff until then (rejects only if closed first). */
  connect(): Promise<void> {
    this.#connecting ??= this.#open();
    return this.#connecting;
  }

  /** Say goodbye, answer the requests in flight, disconnect. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #open(): Promise<void> {
    const link = this.#options.bus
      ? new BusLink(this.#options.bus, { onEvent: (event, server) => this.#linkEvent(event, server) })
      : await NatsLink.open({
          servers: serverList(this.#options.servers as string | string[]),
          name: `routr-app-${this.name}-${this.instance}`,
          nats: this.#options.nats,
          connect: this.#options.connect,
          onEvent: (event, server) => this.#linkEvent(event, server),
          onError: (err) => this.emit('error', err),
          stopped: () => this.#closing !== undefined,
        });
    if (this.#closing) {
      await link.close();
      throw new Error('the app was closed before it connected');
    }
    this.#link = link;
    this.#subscriptions.push(
      link.serve(instanceSubject(this.name, this.instance), (payload) => this.#request(payload)),
      link.subscribe(ANNOUNCE_SUBJECT, () => this.#presenceSoon()),
      link.subscribe(noticeSubject(this.name, this.instance), (payload) => this.#notice(payload)),
    );
    await link.flush();
    await this.#presence('up');
    const every = Math.max(100, this.#options.heartbeatMs ?? 1000);
    this.#heartbeat = setInterval(() => void this.#presence('up').catch((err: unknown) => this.emit('error', err as Error)), every);
    this.emit('connect', link.server());
  }

  #linkEvent(event: 'disconnected' | 'reconnected', server: string): void {
    if (event === 'disconnected') {
      this.emit('disconnect', server);
      return;
    }
    // Hosts may have dropped us while we were away: tell them at once rather than at the next beat.
    void this.#presence('up').catch(() => undefined);
    this.emit('reconnect', server);
  }

  #presenceSoon(): void {
    if (this.#presenceQueued || this.#closing) return;
    this.#presenceQueued = true;
    setTimeout(() => {
      this.#presenceQueued = false;
      if (!this.#closing) void this.#presence('up').catch(() => undefined);
    }, 20);
  }

  async #presence(state: 'up' | 'down'): Promise<void> {
    const link = this.#link;
    if (!link) return;
    const body: PresenceBody = {
      v: 1,
      name: this.name,
      instance: this.instance,
      seq: ++this.#seq,
      state,
      methods: this.methods,
      heartbeatMs: Math.max(100, this.#options.heartbeatMs ?? 1000),
      sdk: SDK_VERSION,
    };
    const frame = await (await this.#signer).frame('presence', this.instance, JSON.stringify(body));
    link.publish(presenceSubject(this.name), frame);
  }

  #notice(payload: Uint8Array): void {
    let error = 'refused';
    try {
      error = String((JSON.parse(fromUtf8.decode(payload)) as { error?: unknown }).error ?? error);
    } catch {
      // keep the default text
    }
    this.emit('error', new AppRefusedError(`app "${this.name}": ${error}`));
  }

  /** One request from a host: check it is routr's (signed with our token), run the handlers, sign the answer. */
  #request(payload: Uint8Array): Promise<Uint8Array> {
    const frame = decodeFrame(payload);
    if (frame?.signature === UNSIGNED && frame.json === '{"ping":1}') return Promise.resolve(utf8.encode(PONG_FRAME));
    const work = this.#answer(frame);
    const done = work.then(() => undefined, () => undefined);
    this.#inflight.add(done);
    void done.finally(() => this.#inflight.delete(done));
    return work;
  }

  async #answer(frame: { signature: string; json: string } | undefined): Promise<Uint8Array> {
    const signer = await this.#signer;
    let body: RequestBody | undefined;
    try {
      body = frame ? (JSON.parse(frame.json) as RequestBody) : undefined;
    } catch {
      body = undefined;
    }
    if (!frame || !body || typeof body.id !== 'string' || !(await signer.verify('request', body.id, frame.json, frame.signature))) {
      this.emit('error', new AppRefusedError(`app "${this.name}": a request without routr's signature was refused`));
      return encodeFrame(UNSIGNED, '{"error":"unauthenticated request"}');
    }
    const id = body.id;
    const reply = (answer: { decision: Decision } | { error: string }) => signer.frame('reply', id, JSON.stringify({ id, ...answer }));
    const timeoutMs = Math.min(MAX_REQUEST_MS, Math.max(1, Number(body.timeoutMs) || 0));
    const req = new AppRequest(body.envelope as MessageEnvelope, timeoutMs);
    const outcome = await new Promise<{ decision: Decision } | { error: string }>((resolve) => {
      // routr has given up by then; answering frees this request here too.
      const timer = setTimeout(() => resolve({ error: `no answer within ${timeoutMs} ms` }), timeoutMs);
      const settle = (answer: { decision: Decision } | { error: string }) => {
        clearTimeout(timer);
        resolve(answer);
      };
      const res = new AppResponse((decision) => settle({ decision }));
      this.#run(req, res, (err) => {
        if (res.finished) return;
        const error = err instanceof Error ? err : new Error(String(err));
        settle({ error: error.message });
        // Marks it answered, so a handler that answers late gets an exception instead of silence (the error won).
        res.decide({ action: 'respond', status: 500 });
        this.emit('error', error);
      });
    });
    return reply(outcome);
  }

  #run(req: AppRequest, res: AppResponse, fail: (err: unknown) => void): void {
    const chain = this.#handlers.filter((h) => h.method === undefined || h.method === req.method);
    let index = 0;
    const next: Next = (err) => {
      if (res.finished) return;
      if (err !== undefined) return fail(err);
      const entry = chain[index++];
      if (!entry) return fail(new Error(`no handler answered ${req.method}`));
      try {
        const result = entry.handler(req, res, next);
        if (result && typeof (result as Promise<void>).then === 'function') (result as Promise<void>).catch(fail);
      } catch (e) {
        fail(e);
      }
    };
    next();
  }

  async #shutdown(): Promise<void> {
    clearInterval(this.#heartbeat);
    await this.#connecting?.catch(() => undefined);
    const link = this.#link;
    if (link) {
      await this.#presence('down').catch(() => undefined);
      await link.flush().catch(() => undefined);
      // Hosts that picked us just before hearing the goodbye still reach us: keep listening a moment.
      await new Promise((resolve) => setTimeout(resolve, 100));
      await Promise.all(this.#subscriptions.splice(0).map((s) => s.drain().catch(() => undefined)));
      while (this.#inflight.size > 0) await Promise.all([...this.#inflight]);
      await link.close();
    }
    this.emit('close');
  }
}

function serverList(servers: string | string[]): string[] {
  return (Array.isArray(servers) ? servers : servers.split(',')).map((s) => s.trim()).filter(Boolean);
}
