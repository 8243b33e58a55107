/**
 * Request handlers (web callbacks, drachtio's "outbound connections"): `spec.host.requestHandlers` maps a SIP
 * method (or "*", for methods without one of their own) to a URL. For a request of that method the host asks
 * the URL instead of the processors:
 *
 *   GET <url>?method=&callId=&uri=&from=&to=&source=<ip>:<port>&transport=
 *
 * and the JSON answer is a decision (the decision schema, validated as a plugin's), `{"app": "<name>"}` (hand
 * the request to that connected app) or `{"url": "http(s)://…"}` (POST the envelope there and use the decision
 * it answers). The hand-off POST is sent with `Connection: close`: one request, one connection, nothing kept
 * open once the request is decided (drachtio's per-request connection, without the descriptor leak). The GET
 * to the handler's own URL keeps its connections alive: it is one origin, asked on every request.
 *
 * A handler that is down, slow (past `timeoutMs`; the hand-off past `handoffTimeoutMs`), answers non-2xx
 * (redirects included: they are not followed) or answers something that fits none of the forms costs that
 * request a 503 with Retry-After, logged with the reason, and counted per handler. HTTP goes through the
 * runtime's `fetch`, which verifies https certificates; no option turns that off.
 */
import type { Decision, MessageEnvelope } from '../envelope.js';
import { SipError } from '../errors.js';
import { checkDecision } from '../host/processor.js';
import type { Logger } from '../log.js';
import type { AppClient } from './client.js';
import type { AppMetrics, HandlerOutcome } from './metrics.js';
import { APP_NAME } from './protocol.js';

export interface RequestHandlerConfig {
  method: string;
  url: string;
  timeoutMs: number;
  handoffTimeoutMs: number;
  headers: Record<string, string>;
}

/** Callback answers are a few hundred bytes; this much is refused unread past the limit. */
const MAX_ANSWER_BYTES = 64 * 1024;

class HandlerFailure extends Error {
  override name = 'HandlerFailure';
  constructor(
    readonly outcome: Exclude<HandlerOutcome, 'respond' | 'forward' | 'app' | 'url'>,
    message: string,
    /** The connection was closed under the request (a pooled one the server had just dropped). */
    readonly stale = false,
  ) {
    super(message);
  }
}

/** Errors of a reused connection that the server closed: the request may not have reached it at all. */
const STALE_CONNECTION = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);

type Answer = { kind: 'decision'; decision: Decision } | { kind: 'app'; app: string } | { kind: 'url'; url: URL };

export interface RequestHandlersOptions {
  handlers: readonly RequestHandlerConfig[];
  client: AppClient;
  logger: Logger;
  metrics: AppMetrics;
  retryAfterSeconds: number;
}

export class RequestHandlers {
  readonly #byMethod = new Map<string, RequestHandler>();

  constructor(options: RequestHandlersOptions) {
    for (const config of options.handlers) this.#byMethod.set(config.method, new RequestHandler(config, options));
  }

  get size(): number {
    return this.#byMethod.size;
  }

  /** The handler for a method: its own, else the "*" one, else none (the processors decide). */
  for(method: string): RequestHandler | undefined {
    return this.#byMethod.get(method) ?? this.#byMethod.get('*');
  }
}

export class RequestHandler {
  readonly label: string;
  readonly #config: RequestHandlerConfig;
  readonly #url: URL;
  readonly #client: AppClient;
  readonly #logger: Logger;
  readonly #metrics: AppMetrics;
  readonly #retryAfter: Record<string, string>;

  constructor(config: RequestHandlerConfig, options: RequestHandlersOptions) {
    this.#config = config;
    this.#url = new URL(config.url);
    this.label = config.method;
    this.#client = options.client;
    this.#logger = options.logger;
    this.#metrics = options.metrics;
    this.#retryAfter = { 'Retry-After': String(options.retryAfterSeconds) };
  }

  /** The decision for this request, from the callback (and the app or URL it names); SipError otherwise. */
  async decide(method: string, envelopeJson: string): Promise<Decision> {
    const started = Date.now();
    let outcome: HandlerOutcome = 'invalid';
    try {
      const answer = await this.#ask(method, envelopeJson);
      let decision: Decision;
      if (answer.kind === 'decision') {
        decision = answer.decision;
        outcome = decision.action;
      } else if (answer.kind === 'app') {
        outcome = 'app';
        decision = await this.#client.decide({ app: answer.app, method, envelopeJson, timeoutMs: this.#config.handoffTimeoutMs, by: `request handler ${this.label}` });
      } else {
        outcome = 'url';
        decision = await this.#handOff(answer.url, envelopeJson);
      }
      return decision;
    } catch (err) {
      if (!(err instanceof HandlerFailure)) throw err;
      outcome = err.outcome;
      this.#logger.warn({ handler: this.label, url: `${this.#url.origin}${this.#url.pathname}`, outcome, reason: err.message }, 'request handler failed');
      throw new SipError('ROUTR_SERVICE_UNAVAILABLE', `request handler ${this.label}: ${err.message}`, { headers: this.#retryAfter, cause: err });
    } finally {
      this.#metrics.handlerCalls.inc({ handler: this.label, outcome });
      this.#metrics.handlerSeconds.observe({ handler: this.label }, (Date.now() - started) / 1000);
    }
  }

  async #ask(method: string, envelopeJson: string): Promise<Answer> {
    const url = new URL(this.#url);
    for (const [key, value] of Object.entries(queryOf(method, envelopeJson))) url.searchParams.set(key, value);
    const init = { method: 'GET', headers: { ...this.#config.headers, accept: 'application/json' } };
    const deadline = Date.now() + this.#config.timeoutMs;
    let body: unknown;
    try {
      body = await this.#fetchJson(url, init, this.#config.timeoutMs, 'the callback');
    } catch (err) {
      // A kept-alive connection the server closed just as it was reused: the GET never reached the callback,
      // and a GET may be repeated, so it is asked once more on a fresh connection (within the same deadline).
      const left = deadline - Date.now();
      if (!(err instanceof HandlerFailure) || !err.stale || left < 1) throw err;
      body = await this.#fetchJson(url, init, left, 'the callback');
    }
    return answerOf(body);
  }

  async #handOff(url: URL, envelopeJson: string): Promise<Decision> {
    const init = {
      method: 'POST',
      headers: { ...this.#config.headers, accept: 'application/json', 'content-type': 'application/json', connection: 'close' },
      body: envelopeJson,
    };
    const body = await this.#fetchJson(url, init, this.#config.handoffTimeoutMs, `the hand-off to ${url.origin}${url.pathname}`);
    const decision = checkDecision(body);
    if (typeof decision === 'string') throw new HandlerFailure('invalid', `the hand-off answered an invalid decision: ${decision}`);
    return decision;
  }

  async #fetchJson(url: URL, init: RequestInit, timeoutMs: number, what: string): Promise<unknown> {
    const signal = AbortSignal.timeout(timeoutMs);
    let response: Response;
    try {
      response = await fetch(url, { ...init, redirect: 'manual', signal });
    } catch (err) {
      throw fetchFailure(err, what, timeoutMs);
    }
    if (response.status < 200 || response.status > 299) {
      await response.body?.cancel().catch(() => undefined);
      throw new HandlerFailure('status', `${what} answered HTTP ${response.status}`);
    }
    let text: string;
    try {
      text = await readLimited(response, MAX_ANSWER_BYTES);
    } catch (err) {
      if (err instanceof HandlerFailure) throw err;
      throw fetchFailure(err, what, timeoutMs);
    }
    try {
      return JSON.parse(text);
    } catch {
      throw new HandlerFailure('invalid', `${what} answered something that is not JSON`);
    }
  }
}

function fetchFailure(err: unknown, what: string, timeoutMs: number): HandlerFailure {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return new HandlerFailure('timeout', `${what} did not answer within ${timeoutMs} ms`);
  const cause = e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
  return new HandlerFailure('down', `${what} is unreachable: ${cause}`, STALE_CONNECTION.has(e?.cause?.code ?? ''));
}

/** The body as text, refusing more than `limit` bytes (a callback streaming forever is cut off too). */
async function readLimited(response: Response, limit: number): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      throw new HandlerFailure('invalid', `the answer is larger than ${limit} bytes`);
    }
    chunks.push(value);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    all.set(chunk, at);
    at += chunk.byteLength;
  }
  return new TextDecoder().decode(all);
}

/** drachtio-style url parameters for one request. */
export function queryOf(method: string, envelopeJson: string): Record<string, string> {
  const envelope = JSON.parse(envelopeJson) as MessageEnvelope;
  const { sender, message } = envelope;
  const host = sender.host.includes(':') ? `[${sender.host}]` : sender.host;
  return {
    method,
    callId: envelope.ref,
    uri: message.uri,
    from: message.headers.from?.uri ?? '',
    to: message.headers.to?.uri ?? '',
    source: `${host}:${sender.port}`,
    transport: sender.transport,
  };
}

/** Which of the three forms a callback's JSON is; anything else is a failure of the callback. */
export function answerOf(body: unknown): Answer {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new HandlerFailure('invalid', 'the answer is not a JSON object');
  const keys = Object.keys(body);
  const value = body as Record<string, unknown>;
  if ('action' in value) {
    const decision = checkDecision(value);
    if (typeof decision === 'string') throw new HandlerFailure('invalid', `the answer is an invalid decision: ${decision}`);
    return { kind: 'decision', decision };
  }
  if (keys.length === 1 && typeof value.app === 'string') {
    if (!APP_NAME.test(value.app)) throw new HandlerFailure('invalid', 'the answer names an app that is no app name');
    return { kind: 'app', app: value.app };
  }
  if (keys.length === 1 && typeof value.url === 'string') {
    let url: URL;
    try {
      url = new URL(value.url);
    } catch {
      throw new HandlerFailure('invalid', 'the answer\'s url does not parse');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new HandlerFailure('invalid', 'the answer\'s url is neither http nor https');
    return { kind: 'url', url };
  }
  throw new HandlerFailure('invalid', `the answer is none of a decision, {"app"} or {"url"} (keys: ${keys.slice(0, 5).join(', ')})`);
}
