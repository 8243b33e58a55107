/**
 * The scanner filter: requests whose User-Agent contains one of the configured strings (case-insensitive) are
 * dropped without an answer, as Kamailio's default configuration drops `friendly-scanner` and its kin. An
 * answer — even a 403 — tells a scanner a SIP server lives here; silence does not.
 */
import type { SecurityConfig } from '../config/server.js';

export class ScannerFilter {
  readonly #needles: string[];

  constructor(config: SecurityConfig['scanners']) {
    this.#needles = config.enabled ? config.userAgents.map((ua) => ua.toLowerCase()) : [];
  }

  get enabled(): boolean {
    return this.#needles.length > 0;
  }

  /** Whether a request with this User-Agent header value is a scanner's. */
  matches(userAgent: unknown): boolean {
    if (this.#needles.length === 0 || typeof userAgent !== 'string' || userAgent === '') return false;
    const ua = userAgent.toLowerCase();
    for (const needle of this.#needles) if (ua.includes(needle)) return true;
    return false;
  }
}
