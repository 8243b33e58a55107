/**
 * The audit trail of the management API: every request that may change something (any method but GET and HEAD)
 * becomes one record — who (principal, role, tenant), what (route, path, target), before/after digests of what it
 * changed, and the result (status) — written as a log line (`"msg":"api audit"`, at info, or warn when refused)
 * and published as an `audit.change` event on the bus (core/events), so a collector can keep it.
 *
 * Records never carry request bodies, passwords, tokens or key secrets: only names, refs and SHA-256 digests.
 */
import type { EventPublisher } from '../events/publisher.js';
import type { AuditChange } from '../events/types.js';
import type { Logger } from '../log.js';
import type { Principal } from './permissions.js';

export type { AuditChange } from '../events/types.js';

export interface AuditInput {
  /** undefined: the request did not authenticate. */
  principal: Principal | undefined;
  route: string | null;
  method: string;
  path: string;
  source: string | null;
  status: number;
  ms: number;
  target?: string;
  changes?: AuditChange[];
  before?: string | null;
  after?: string | null;
}

export class AuditLog {
  readonly #logger: Logger;
  readonly #events: EventPublisher | undefined;

  constructor(options: { logger: Logger; events?: EventPublisher }) {
    this.#logger = options.logger;
    this.#events = options.events;
  }

  record(input: AuditInput): void {
    const p = input.principal;
    const result = input.status < 400 ? 'ok' : input.status === 401 || input.status === 403 ? 'refused' : 'failed';
    const fields = {
      who: p?.id ?? 'anonymous',
      name: p?.name ?? null,
      role: p?.role ?? null,
      tenant: p?.tenant ?? null,
      route: input.route,
      method: input.method,
      path: input.path,
      target: input.target ?? null,
      changes: input.changes ?? [],
      before: input.before ?? null,
      after: input.after ?? null,
      status: input.status,
      result,
      source: input.source,
      ms: input.ms,
    } as const;
    if (result === 'ok') this.#logger.info({ audit: fields }, 'api audit');
    else this.#logger.warn({ audit: fields }, 'api audit');
    this.#events?.publish('audit.change', fields);
  }
}
