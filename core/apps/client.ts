/**
 * Asks a connected app for the decision on one request. The host picks the instance itself (fewest requests
 * in flight, see directory.ts) rather than publishing into a NATS queue group: it must know which
 * authenticated instance holds each request, so that one going away costs the request a retry on another
 * instance instead of the whole deadline, and so that a subscriber that never proved it holds the token is
 * never handed a request at all.
 *
 * Each attempt carries a fresh request id, signed into the request and expected, signed, in the reply. What
 * comes back is validated against the decision schema exactly as a plugin's decision is.
 *
 *   no instance connected              → 503 + Retry-After (not an app failure: nothing was asked)
 *   instance gone / nobody listening   → retry on another instance, within the deadline
 *   a reply whose signature is wrong   → counted, retried (someone else answered on the instance's subject)
 *   no answer within the deadline      → 503 + Retry-After, an app failure (the processor's breaker counts it)
 *   an app error (its handler threw)   → 500, an app failure
 *   an invalid decision                → 500, counted, but it moves no breaker (as for plugins: it is most often
 *                                        made of one request's data, and one caller must not switch it off)
 */
import { BusClosedError, BusError, BusHandlerError, BusNoRespondersError, BusTimeoutError, type Bus } from '../bus/types.js';
import type { Decision } from '../envelope.js';
import { SipError } from '../errors.js';
import { checkDecision } from '../host/processor.js';
import type { Logger } from '../log.js';
import { AppDirectory, InstanceGoneError, type AppInstance } from './directory.js';
import type { AppMetrics, AppOutcome, RetryReason } from './metrics.js';
import { decodeFrame, randomId, type AppSigner, type ReplyBody } from './protocol.js';

/** A SipError that is the app's fault; `outcome` says how (timeout, app_error, invalid_decision, exhausted). */
export class AppFailureError extends SipError {
  readonly outcome: AppOutcome;
  constructor(code: 'ROUTR_SERVICE_UNAVAILABLE' | 'ROUTR_INTERNAL', outcome: AppOutcome, message: string, options?: { headers?: Record<string, string> }) {
    super(code, message, options);
    this.outcome = outcome;
  }
}

/** Attempts per request at most (instances tried, plus retries after a bad signature or a bus hiccup). */
const MAX_ATTEMPTS = 5;

export interface AppCall {
  app: string;
  method: string;
  envelopeJson: string;
  timeoutMs: number;
  /** Who asks, for logs ("processor voicemail", "request handler INVITE"). */
  by: string;
}

type Attempt =
  | { kind: 'decision'; decision: Decision }
  | { kind: 'retry'; reason: RetryReason; detail: string }
  | { kind: 'fail'; outcome: AppOutcome; detail: string };

export interface AppClientOptions {
  bus: Bus;
  directory: AppDirectory;
  logger: Logger;
  metrics: AppMetrics;
  retryAfterSeconds: number;
}

export class AppClient {
  readonly #bus: Bus;
  readonly #directory: AppDirectory;
  readonly #logger: Logger;
  readonly #metrics: AppMetrics;
  readonly #retryAfter: Record<string, string>;
  readonly #idPrefix = `${randomId(6)}-`;
  #seq = 0;

  constructor(options: AppClientOptions) {
    this.#bus = options.bus;
    this.#directory = options.directory;
    this.#logger = options.logger;
    this.#metrics = options.metrics;
    this.#retryAfter = { 'Retry-After': String(options.retryAfterSeconds) };
  }

  /** The decision of `call.app` for this request; throws SipError (AppFailureError when the app is at fault). */
  async decide(call: AppCall): Promise<Decision> {
    const signer = this.#directory.signer(call.app);
    if (!signer) return this.#fail(call, 'unknown_app', `app "${call.app}" is not declared in spec.host.apps`);
    const started = Date.now();
    const deadline = started + call.timeoutMs;
    const tried = new Set<string>();
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const instance = this.#directory.pick(call.app, call.method, tried);
      if (!instance) {
        if (tried.size === 0) return this.#fail(call, 'no_instance', `no instance of app "${call.app}" taking ${call.method} is connected`);
        return this.#fail(call, 'exhausted', `every instance of app "${call.app}" tried went away`);
      }
      const remaining = deadline - Date.now();
      if (remaining < 1) break;
      const result = await this.#attempt(instance, signer, call.envelopeJson, remaining);
      if (result.kind === 'decision') {
        this.#metrics.requests.inc({ app: call.app, outcome: 'decision' });
        this.#metrics.seconds.observe({ app: call.app }, (Date.now() - started) / 1000);
        return result.decision;
      }
      if (result.kind === 'fail') return this.#fail(call, result.outcome, result.detail);
      this.#metrics.retries.inc({ app: call.app, reason: result.reason });
      this.#logger.debug({ app: call.app, instance: instance.id, reason: result.reason, detail: result.detail }, 'app attempt failed; retrying');
      if (result.reason === 'gone' || result.reason === 'no_responders') tried.add(instance.id);
    }
    if (Date.now() >= deadline) return this.#fail(call, 'timeout', `app "${call.app}" gave no decision within ${call.timeoutMs} ms`);
    return this.#fail(call, 'exhausted', `app "${call.app}": ${MAX_ATTEMPTS} attempts without a decision`);
  }

  async #attempt(instance: AppInstance, signer: AppSigner, envelopeJson: string, remaining: number): Promise<Attempt> {
    // Unique is enough (the signature, not the id, is what a forger lacks): a prefix per host and a counter.
    const id = `${this.#idPrefix}${(++this.#seq).toString(36)}`;
    const frame = await signer.frame('request', id, `{"id":"${id}","timeoutMs":${remaining},"envelope":${envelopeJson}}`);
    let untrack: () => void = () => undefined;
    const gone = new Promise<never>((_, reject) => (untrack = instance.track(id, reject)));
    let payload: Uint8Array;
    try {
      payload = await Promise.race([this.#bus.request(instance.subject, frame, { timeoutMs: remaining }), gone]);
    } catch (err) {
      return this.#failedRequest(instance, err);
    } finally {
      untrack();
    }
    return this.#reply(signer, id, payload);
  }

  #failedRequest(instance: AppInstance, err: unknown): Attempt {
    const detail = err instanceof Error ? err.message : String(err);
    if (err instanceof InstanceGoneError) return { kind: 'retry', reason: 'gone', detail };
    if (err instanceof BusNoRespondersError) {
      // Its process is gone (NATS dropped its subscription): fail over everything it holds, not just this one.
      this.#directory.remove(instance, 'no responders on its subject');
      return { kind: 'retry', reason: 'no_responders', detail };
    }
    if (err instanceof BusTimeoutError) return { kind: 'fail', outcome: 'timeout', detail: `instance ${instance.id} did not answer in time` };
    if (err instanceof BusHandlerError) return { kind: 'fail', outcome: 'app_error', detail };
    if (err instanceof BusClosedError) return { kind: 'fail', outcome: 'timeout', detail };
    if (err instanceof BusError) return { kind: 'retry', reason: 'bus_error', detail };
    return { kind: 'fail', outcome: 'app_error', detail };
  }

  async #reply(signer: AppSigner, id: string, payload: Uint8Array): Promise<Attempt> {
    const frame = decodeFrame(payload);
    if (!frame || !(await signer.verify('reply', id, frame.json, frame.signature))) {
      return { kind: 'retry', reason: 'signature', detail: 'a reply without a valid signature (not from an instance holding the token)' };
    }
    let body: ReplyBody;
    try {
      body = JSON.parse(frame.json) as ReplyBody;
    } catch {
      return { kind: 'fail', outcome: 'invalid_decision', detail: 'the reply is not JSON' };
    }
    if (body === null || typeof body !== 'object' || body.id !== id) {
      return { kind: 'retry', reason: 'signature', detail: 'a reply for another request' };
    }
    if (typeof body.error === 'string') return { kind: 'fail', outcome: 'app_error', detail: `the app failed: ${body.error.slice(0, 200)}` };
    const decision = checkDecision(body.decision);
    if (typeof decision === 'string') return { kind: 'fail', outcome: 'invalid_decision', detail: `invalid decision: ${decision}` };
    return { kind: 'decision', decision };
  }

  #fail(call: AppCall, outcome: AppOutcome, detail: string): never {
    this.#metrics.requests.inc({ app: call.app, outcome });
    const fields = { app: call.app, by: call.by, method: call.method, outcome, reason: detail };
    if (outcome === 'no_instance') this.#logger.debug(fields, 'no app instance connected');
    else this.#logger.warn(fields, 'app request failed');
    switch (outcome) {
      case 'no_instance':
      case 'unknown_app':
        throw new SipError('ROUTR_SERVICE_UNAVAILABLE', detail, { headers: this.#retryAfter });
      case 'timeout':
      case 'exhausted':
        throw new AppFailureError('ROUTR_SERVICE_UNAVAILABLE', outcome, detail, { headers: this.#retryAfter });
      default:
        throw new AppFailureError('ROUTR_INTERNAL', outcome, detail);
    }
  }
}
