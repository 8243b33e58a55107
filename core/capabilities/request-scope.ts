/**
 * What the host knows about the request being decided, for capabilities that need more than their arguments:
 * the envelope as the edge sent it (not as a plugin retells it: the socket source and routr's own addresses
 * come from here), a delay to apply to the answer, and checks to finish before the answer leaves.
 *
 * Capabilities are synchronous (plugins run on the host thread), but a nonce-count is only safe across hosts
 * if it is claimed in the shared KV by compare-and-set, which is asynchronous. So `auth.verify` answers from
 * what this host knows and registers the claim here; the host awaits every claim before replying and replaces
 * the decision when one fails (a replay another host accepted first).
 *
 * The scope is current only during the synchronous part of a processor call (`inScope`): a sync plugin (the
 * default, and Connect) calls its capabilities inside it, and concurrent requests never see each other's. An
 * async plugin's capability calls come later and find no scope; they get what a capability gives without one
 * (auth.verify then claims its nonce-count in the background). AsyncLocalStorage would carry the scope across
 * awaits, but on Node 20 it turns on promise hooks for the whole process, a cost on every request.
 */
import type { Decision, MessageEnvelope } from '../envelope.js';

/** A check to finish before replying: resolves to undefined when it holds, or to the decision to send instead. */
export type PendingCheck = Promise<Decision | undefined>;

export class RequestScope {
  /** Answer this much later (password guessing). The largest asked for wins. */
  delayMs = 0;
  readonly checks: PendingCheck[] = [];
  readonly #json: string;
  #envelope: MessageEnvelope | undefined;

  constructor(envelopeJson: string) {
    this.#json = envelopeJson;
  }

  /** The envelope, parsed on first use (most requests never need it here). */
  get envelope(): MessageEnvelope {
    this.#envelope ??= JSON.parse(this.#json) as MessageEnvelope;
    return this.#envelope;
  }

  delay(ms: number): void {
    if (ms > this.delayMs) this.delayMs = ms;
  }
}

let active: RequestScope | undefined;

export function currentScope(): RequestScope | undefined {
  return active;
}

/** Run `fn` with `scope` current for its synchronous part (what a sync plugin does inside one call). */
export function inScope<T>(scope: RequestScope | undefined, fn: () => T): T {
  const previous = active;
  active = scope;
  try {
    return fn();
  } finally {
    active = previous;
  }
}
