/**
 * The edge's source guard: what every transport asks about each datagram, connection and framed message
 * before anything is parsed. In order: the access list (config `spec.edge.accessControlList` plus the list set
 * through the API, allow wins), the shared ban list, and the pike-style rate limit, which bans a source that
 * goes over it (unless it is exempt: configured networks, Trunk and Peer addresses). Whatever is refused is
 * dropped without an answer and counted in `routr_shield_dropped_total` (reason acl, banned, or rate when
 * bans are off and the limit only drops what goes over it).
 *
 * Cost on the hot path with the defaults (empty access list): one Map lookup in the ban list (skipped while
 * it is empty) and one in-place counter update. Responses (a message starting `SIP/`) are not rate counted.
 */
import type { NetworkList, SecurityConfig } from '../config/server.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { BanList } from './bans.js';
import { NetworkSet, readAddress, sourceKey } from '../config/networks.js';
import { RateCounter } from './rate.js';

export interface SourceGuard {
  /** A datagram (or a message framed on a connection) from `host`: false means drop it. */
  admit(host: string, data: Uint8Array): boolean;
  /** A new connection from `host`: false means close it before any handshake. */
  admitConnection(host: string): boolean;
}

/** Lets everything in: for transports built without a guard (tests, tools). */
export const OPEN_GUARD: SourceGuard = { admit: () => true, admitConnection: () => true };

export interface EdgeGuardOptions {
  accessControlList: NetworkList;
  security: SecurityConfig;
  bans: BanList;
  metrics: Metrics;
  logger: Logger;
}

const S = 0x53;
const I = 0x49;
const P = 0x50;

export class EdgeGuard implements SourceGuard {
  readonly #config: NetworkList;
  #allow: NetworkSet;
  #deny: NetworkSet;
  readonly #exempt: NetworkSet;
  #exemptHosts = new Set<string>();
  readonly #bans: BanList;
  readonly #rate: RateCounter | undefined;
  readonly #metrics: Metrics;
  readonly #logger: Logger;
  readonly #security: SecurityConfig;
  readonly #checkBans: boolean;

  constructor(options: EdgeGuardOptions) {
    const { security } = options;
    this.#config = options.accessControlList;
    this.#allow = new NetworkSet(options.accessControlList.allow);
    this.#deny = new NetworkSet(options.accessControlList.deny);
    this.#exempt = new NetworkSet(security.rateLimit.exempt);
    this.#bans = options.bans;
    this.#security = security;
    this.#checkBans = security.bans.enabled;
    this.#metrics = options.metrics;
    this.#logger = options.logger;
    if (security.rateLimit.enabled) this.#rate = new RateCounter({ windowMs: security.rateLimit.windowMs, maxRequests: security.rateLimit.maxRequests });
  }

  /** The access list in force: the configured one plus `extra` (set through the API), each side merged. */
  setAccessControlList(extra: NetworkList): void {
    this.#allow = new NetworkSet([...this.#config.allow, ...extra.allow]);
    this.#deny = new NetworkSet([...this.#config.deny, ...extra.deny]);
  }

  /** Addresses never rate limited besides the configured networks: those of Trunks and Peers. */
  setExemptHosts(hosts: Iterable<string>): void {
    this.#exemptHosts = this.#security.rateLimit.exemptTrunksAndPeers ? new Set(hosts) : new Set();
  }

  admitConnection(host: string): boolean {
    return this.#check(host, false);
  }

  admit(host: string, data: Uint8Array): boolean {
    // Responses are never rate counted: a response flood costs a relay lookup, and spoofed ones are dropped there.
    const request = !(data[0] === S && data[1] === I && data[2] === P);
    return this.#check(host, request);
  }

  #check(host: string, count: boolean): boolean {
    if ((this.#deny.size > 0 || this.#allow.size > 0) && !this.#permitted(host)) {
      this.#metrics.shieldDrops.inc('acl');
      return false;
    }
    if (!this.#checkBans && !this.#rate) return true;
    const key = host.indexOf(':') === -1 ? host : sourceKey(host, this.#security.rateLimit.ipv6PrefixLength);
    if (key === undefined) return true;
    if (this.#checkBans && this.#bans.has(key)) {
      this.#metrics.shieldDrops.inc('banned');
      return false;
    }
    if (!count || !this.#rate || !this.#rate.hit(key)) return true;
    if (this.#isExempt(host)) return true;
    if (!this.#checkBans) {
      // No ban list: what goes over the limit is dropped while it stays over.
      this.#metrics.shieldDrops.inc('rate');
      return false;
    }
    this.#rate.forget(key);
    const { banSeconds, maxRequests, windowMs } = this.#security.rateLimit;
    this.#logger.warn({ source: key, maxRequests, windowMs, banSeconds }, 'rate limit exceeded: source banned');
    void this.#bans.ban(key, banSeconds, 'rate');
    this.#metrics.shieldDrops.inc('banned');
    return false;
  }

  #permitted(host: string): boolean {
    const kind = readAddress(host);
    if (kind === 0) return true;
    if (this.#allow.hasParsed(kind)) return true;
    return !this.#deny.hasParsed(kind);
  }

  #isExempt(host: string): boolean {
    return this.#exemptHosts.has(host) || this.#exempt.has(host);
  }
}
