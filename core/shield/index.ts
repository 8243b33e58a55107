/**
 * The shield: routr's abuse defences, one per process, shared by its edge and host roles.
 *
 * - `guard` (edge): access list, ban list and rate limit on the socket source of every datagram, connection and
 *   framed message, before any parse (guard.ts).
 * - `bans`: the ban list every node shares through the bus KV (bans.ts).
 * - `passwords` (host): failed digest answers per source and per username → delays, then bans (guessing.ts).
 * - `scanners` (edge): the User-Agent deny list, checked right after parsing (scanners.ts).
 * - The access list set through the API lives in its own KV bucket (`routr_v1_edge_acl`), merged with the
 *   configured one on every edge.
 */
import { dns } from '../runtime/dns.js';
import { isIP } from '../runtime/net.js';
import { bucketName } from '../bus/subjects.js';
import type { Bus, KvStore } from '../bus/types.js';
import type { NetworkList, ServerConfig } from '../config/server.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { uriHost } from '../resources/addresses.js';
import type { ResourceSet } from '../resources/set.js';
import type { ResourceStore } from '../resources/store.js';
import { BanList } from './bans.js';
import { EdgeGuard } from './guard.js';
import { PasswordGuard } from './guessing.js';
import { entryProblem } from '../config/networks.js';
import { ScannerFilter } from './scanners.js';

export { BanList, type Ban, type BanReason } from './bans.js';
export { EdgeGuard, OPEN_GUARD, type SourceGuard } from './guard.js';
export { PasswordGuard } from './guessing.js';
export { ScannerFilter } from './scanners.js';
export { sourceKey } from '../config/networks.js';

export const EDGE_ACL_BUCKET = bucketName('edge_acl');
const ACL_KEY = 'acl';

export interface ShieldOptions {
  bus: Bus;
  config: ServerConfig['spec'];
  resources?: Pick<ResourceStore, 'current' | 'onChange'>;
  metrics: Metrics;
  logger: Logger;
  node: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class Shield {
  readonly bans: BanList;
  readonly guard: EdgeGuard;
  readonly passwords: PasswordGuard;
  readonly scanners: ScannerFilter;
  readonly #acl: KvStore | undefined;
  #extraAcl: NetworkList = { allow: [], deny: [] };
  readonly #stops: Array<() => unknown> = [];

  private constructor(bans: BanList, acl: KvStore | undefined, options: ShieldOptions) {
    const { config, metrics, logger } = options;
    this.bans = bans;
    this.#acl = acl;
    this.guard = new EdgeGuard({ accessControlList: config.edge.accessControlList, security: config.security, bans, metrics, logger });
    this.passwords = new PasswordGuard({ config: config.security.passwordGuessing, bans: config.security.bans.enabled ? bans : undefined, metrics, logger, ipv6PrefixLength: config.security.rateLimit.ipv6PrefixLength });
    this.scanners = new ScannerFilter(config.security.scanners);
  }

  static async open(options: ShieldOptions): Promise<Shield> {
    const { bus, metrics, logger, node } = options;
    const onChange = ({ type, ban }: { type: 'ban' | 'lift'; ban: { reason: string } }) => {
      if (type === 'ban') metrics.bans.inc({ reason: ban.reason });
      else metrics.unbans.inc({ reason: ban.reason });
      metrics.bansActive.set(list.size);
    };
    let list: BanList;
    let acl: KvStore | undefined;
    try {
      list = await BanList.open(bus, { maxEntries: options.config.security.bans.maxEntries, logger, node, onChange });
      acl = await bus.kv(EDGE_ACL_BUCKET);
    } catch (err) {
      logger.warn({ reason: (err as Error).message }, 'bans are per-node: the bus has no KV (on NATS, start nats-server with -js)');
      list = BanList.local({ maxEntries: options.config.security.bans.maxEntries, logger, node, onChange });
      acl = undefined;
    }
    const shield = new Shield(list, acl, options);
    await shield.#watchAcl();
    if (options.resources) shield.#watchResources(options.resources, logger);
    return shield;
  }

  /** The access list set through the API (merged with the configured one). */
  get accessControlList(): NetworkList {
    return this.#extraAcl;
  }

  /** Replace the API's access list everywhere; throws RangeError naming a bad entry. */
  async setAccessControlList(list: NetworkList): Promise<void> {
    for (const entry of [...list.allow, ...list.deny]) {
      const problem = entryProblem(entry);
      if (problem) throw new RangeError(problem);
    }
    this.#applyAcl(list);
    await this.#acl?.put(ACL_KEY, encoder.encode(JSON.stringify(list)));
  }

  async close(): Promise<void> {
    for (const stop of this.#stops) await stop();
    await this.bans.close();
  }

  #applyAcl(list: NetworkList): void {
    this.#extraAcl = { allow: [...list.allow], deny: [...list.deny] };
    this.guard.setAccessControlList(this.#extraAcl);
  }

  async #watchAcl(): Promise<void> {
    const kv = this.#acl;
    if (!kv) return;
    const take = (value: Uint8Array | null) => {
      try {
        const parsed = value ? (JSON.parse(decoder.decode(value)) as NetworkList) : { allow: [], deny: [] };
        this.#applyAcl({ allow: parsed.allow.filter((e) => !entryProblem(e)), deny: parsed.deny.filter((e) => !entryProblem(e)) });
      } catch {
        // A hand-written value that is not a list: keep the one in force.
      }
    };
    this.#stops.push(await kv.watch((event) => event.key === ACL_KEY && take(event.value)));
    const entry = await kv.get(ACL_KEY);
    if (entry) take(entry.value);
  }

  #watchResources(resources: Pick<ResourceStore, 'current' | 'onChange'>, logger: Logger): void {
    const update = (set: ResourceSet) => {
      trunkAndPeerHosts(set)
        .then((hosts) => this.guard.setExemptHosts(hosts))
        .catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'trunk and peer addresses not resolved for rate-limit exemptions'));
    };
    update(resources.current());
    this.#stops.push(resources.onChange((set) => update(set)));
  }
}

/** The addresses Trunks and Peers send from, as far as the resources tell: IP literals as written, names resolved. */
export async function trunkAndPeerHosts(set: ResourceSet): Promise<Set<string>> {
  const names = new Set<string>();
  for (const trunk of set.list('Trunk')) {
    const spec = trunk.spec as { inbound?: { uri: string }; outbound?: { uris: Array<{ uri: { host: string } }> } };
    if (spec.inbound?.uri) names.add(uriHost(spec.inbound.uri) ?? '');
    for (const out of spec.outbound?.uris ?? []) names.add(out.uri.host.toLowerCase());
  }
  for (const peer of set.list('Peer')) {
    const contact = (peer.spec as { contactAddr?: string }).contactAddr;
    if (contact) names.add(uriHost(contact) ?? '');
  }
  const hosts = new Set<string>();
  await Promise.all(
    [...names].filter(Boolean).map(async (name) => {
      const bare = name.startsWith('[') ? name.slice(1, -1) : name;
      if (isIP(bare)) {
        hosts.add(bare);
        return;
      }
      try {
        for (const { address } of await dns.lookup(bare, { all: true })) hosts.add(address);
      } catch {
        // A name that does not resolve (yet) exempts nothing.
      }
    }),
  );
  return hosts;
}
