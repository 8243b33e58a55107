/**
 * ResourceSet: one immutable, validated snapshot of every resource, indexed the ways SIP routing asks (Agent or
 * Peer by username, Domain by URI, Number by tel: URL, Trunk by host, who refers to what). Stores swap whole
 * sets atomically, so a reader holding a set sees one consistent world for as long as it holds it, and lookups
 * are plain Map reads on the host thread — what synchronous plugin capabilities need.
 *
 * Resources are deep-frozen. Credentials keep their password here (host-side digest checks need it); anything
 * that leaves the host — the plugin capability, the management API — goes through `redact()`.
 */
import { createHash } from '../runtime/crypto.js';
import { aorKey, normaliseTelUrl, parseNetwork, inNetwork, uriHost, type Network } from './addresses.js';
import { KINDS, referencesOf, type Agent, type Domain, type Entry, type Kind, type NumberResource, type Peer, type Reference, type Resource, type ResourceOf, type Source, type Trunk } from './types.js';

/** A filter for `find`: equality on `ref`, on spec fields (dotted paths: `context.domainUri`) or `metadata.*`. */
export type ResourceFilter = Record<string, unknown>;

let generations = 0;

export class ResourceSet {
  static readonly EMPTY = new ResourceSet([]);

  /** A number no other set of this process has: what sandboxes key the resources they keep by (Capability.cache). */
  readonly generation = ++generations;

  /** sha256 of the resources' canonical JSON: equal digests, equal sets (sources are not part of it). */
  readonly digest: string;
  readonly #entries = new Map<string, Entry>();
  readonly #byKind = new Map<Kind, Resource[]>();
  /** Agents (one per tenant) and Peers (one in all) by username. */
  readonly #usernames = new Map<string, Array<Agent | Peer>>();
  readonly #agentsByDomain = new Map<string, Agent[]>();
  readonly #domains = new Map<string, Domain>();
  readonly #numbers = new Map<string, NumberResource>();
  readonly #inboundTrunks = new Map<string, Trunk>();
  readonly #outboundTrunks = new Map<string, Trunk[]>();
  readonly #referrers = new Map<string, Reference[]>();
  readonly #networks = new Map<string, { allow: Network[]; deny: Network[] }>();

  /** Build from entries that passed validation (`validateDocuments`); it does not validate again. */
  constructor(entries: readonly Entry[]) {
    for (const kind of KINDS) this.#byKind.set(kind, []);
    const sorted = [...entries].sort((a, b) => compare(a.resource.kind, b.resource.kind) || compare(a.resource.ref, b.resource.ref));
    for (const entry of sorted) {
      const r = entry.resource;
      this.#entries.set(key(r.kind, r.ref), entry);
      this.#byKind.get(r.kind)!.push(r);
      for (const reference of referencesOf(r)) push(this.#referrers, key(reference.target.kind, reference.target.ref), reference);
      this.#index(r);
    }
    this.digest = createHash('sha256').update(canonicalJson(sorted.map((e) => e.resource))).digest('hex');
  }

  #index(r: Resource): void {
    switch (r.kind) {
      case 'Agent':
        push(this.#usernames, r.spec.username, r);
        push(this.#agentsByDomain, r.spec.domainRef, r);
        break;
      case 'Peer':
        push(this.#usernames, r.spec.username, r);
        break;
      case 'Domain':
        this.#domains.set(r.spec.context.domainUri.toLowerCase(), r);
        break;
      case 'Number':
        this.#numbers.set(normaliseTelUrl(r.spec.location.telUrl), r);
        break;
      case 'Trunk': {
        const inbound = r.spec.inbound && uriHost(r.spec.inbound.uri);
        if (inbound) this.#inboundTrunks.set(inbound, r);
        for (const { uri } of r.spec.outbound?.uris ?? []) {
          const list = this.#outboundTrunks.get(uri.host.toLowerCase()) ?? [];
          if (!list.includes(r)) list.push(r);
          this.#outboundTrunks.set(uri.host.toLowerCase(), list);
        }
        break;
      }
      case 'AccessControlList': {
        const { allow, deny } = r.spec.accessControlList;
        this.#networks.set(r.ref, { allow: allow.map(parseNetwork), deny: deny.map(parseNetwork) });
        break;
      }
    }
  }

  get size(): number {
    return this.#entries.size;
  }

  has(kind: Kind, ref: string): boolean {
    return this.#entries.has(key(kind, ref));
  }

  get<K extends Kind>(kind: K, ref: string): ResourceOf<K> | undefined {
    return this.#entries.get(key(kind, ref))?.resource as ResourceOf<K> | undefined;
  }

  /** Where a resource was defined (file and line), when it came from a file. */
  sourceOf(kind: Kind, ref: string): Source | undefined {
    return this.#entries.get(key(kind, ref))?.source;
  }

  /** Every resource of a kind (sorted by ref), or of every kind (sorted by kind, then ref). */
  list<K extends Kind>(kind: K): ReadonlyArray<ResourceOf<K>>;
  list(): readonly Resource[];
  list(kind?: Kind): readonly Resource[] {
    if (kind) return this.#byKind.get(kind) ?? [];
    return KINDS.flatMap((k) => this.#byKind.get(k)!);
  }

  entries(): Entry[] {
    return [...this.#entries.values()];
  }

  /**
   * Resources of `kind` matching every field of `filter` by equality, except `location.telUrl` (compared as
   * numbers, see normaliseTelUrl) and `context.domainUri` (case-insensitive), compared the way uniqueness is.
   */
  find<K extends Kind>(kind: K, filter: ResourceFilter): Array<ResourceOf<K>> {
    const candidates = this.#candidates(kind, filter);
    const fields = Object.entries(filter);
    return candidates.filter((r) => fields.every(([field, wanted]) => matches(r, field, wanted))) as Array<ResourceOf<K>>;
  }

  #candidates(kind: Kind, filter: ResourceFilter): readonly Resource[] {
    const indexed = (found: Resource | undefined) => (found && found.kind === kind ? [found] : []);
    if (typeof filter.ref === 'string') return indexed(this.get(kind, filter.ref));
    if ((kind === 'Agent' || kind === 'Peer') && typeof filter.username === 'string') return (this.#usernames.get(filter.username) ?? []).filter((r) => r.kind === kind);
    if (kind === 'Domain' && typeof filter['context.domainUri'] === 'string') return indexed(this.domainByUri(filter['context.domainUri']));
    if (kind === 'Number' && typeof filter['location.telUrl'] === 'string') return indexed(this.numberByTelUrl(filter['location.telUrl']));
    return this.list(kind);
  }

  /** The Agent with this username (in the Domain with this URI, when given; else the first by ref, of any tenant). */
  agentByUsername(username: string, domainUri?: string): Agent | undefined {
    const agents = (this.#usernames.get(username) ?? []).filter((r): r is Agent => r.kind === 'Agent');
    if (domainUri === undefined) return agents[0];
    return agents.find((a) => this.get('Domain', a.spec.domainRef)?.spec.context.domainUri.toLowerCase() === domainUri.toLowerCase());
  }

  agentsInDomain(domainRef: string): readonly Agent[] {
    return this.#agentsByDomain.get(domainRef) ?? [];
  }

  peerByUsername(username: string): Peer | undefined {
    return (this.#usernames.get(username) ?? []).find((r): r is Peer => r.kind === 'Peer');
  }

  /**
   * The Agent or Peer an address of record belongs to: `sip:user@<a Domain's URI>` is that Domain's Agent, any
   * other AOR a Peer's `aor`. What registrations and calls are attributed to (their tenant).
   */
  ownerOfAor(aor: string): Agent | Peer | undefined {
    const key = aorKey(aor);
    const sip = /^sip:([^@]*)@(.+)$/.exec(key);
    if (sip) {
      const domain = this.domainByUri(sip[2]);
      const agent = domain && this.agentsInDomain(domain.ref).find((a) => a.spec.username === sip[1]);
      if (agent) return agent;
    }
    return this.list('Peer').find((p) => aorKey(p.spec.aor) === key);
  }

  domainByUri(uri: string): Domain | undefined {
    return this.#domains.get(uri.toLowerCase());
  }

  /** By tel: URL or bare number, compared as numbers (`tel:+1-910-343-4434` finds `tel:+19103434434`). */
  numberByTelUrl(telUrl: string): NumberResource | undefined {
    return this.#numbers.get(normaliseTelUrl(telUrl));
  }

  /** The Trunk whose inbound uri has this host (carriers send calls to it). */
  trunkByInboundHost(host: string): Trunk | undefined {
    return this.#inboundTrunks.get(host.toLowerCase());
  }

  /** Trunks with an outbound URI on this host (a call arriving from there likely comes from them). */
  trunksByOutboundHost(host: string): readonly Trunk[] {
    return this.#outboundTrunks.get(host.toLowerCase()) ?? [];
  }

  /** Whether the AccessControlList `ref` lets `address` in (see aclPermits); undefined when there is no such list. */
  aclPermits(ref: string, address: string): boolean | undefined {
    const networks = this.#networks.get(ref);
    if (!networks) return undefined;
    return inNetwork(address, networks.allow) || !inNetwork(address, networks.deny);
  }

  /** The references other resources make to this one (what stops it being deleted). */
  referrers(kind: Kind, ref: string): readonly Reference[] {
    return this.#referrers.get(key(kind, ref)) ?? [];
  }
}

/** What may leave the host: Credentials lose `password`; everything else is returned as is. */
export function redact<R extends Resource>(resource: R): R {
  if (resource.kind !== 'Credentials') return resource;
  const { password: _password, ...credentials } = resource.spec.credentials;
  return { ...resource, spec: { ...resource.spec, credentials } } as R;
}

/** JSON with object keys sorted, so equal values give equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => compare(a, b)));
  });
}

function matches(resource: Resource, field: string, wanted: unknown): boolean {
  const value = field === 'ref' || field === 'kind' ? resource[field] : field.startsWith('metadata.') ? at(resource.metadata, field.slice(9)) : at(resource.spec, field);
  if (typeof value === 'string' && typeof wanted === 'string') {
    if (field === 'location.telUrl') return normaliseTelUrl(value) === normaliseTelUrl(wanted);
    if (field === 'context.domainUri') return value.toLowerCase() === wanted.toLowerCase();
  }
  return value === wanted || (typeof value === 'object' && value !== null && canonicalJson(value) === canonicalJson(wanted));
}

function at(root: unknown, dotted: string): unknown {
  let value = root;
  for (const part of dotted.split('.')) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function key(kind: string, ref: string): string {
  return `${kind}/${ref}`;
}

function push<K, V>(map: Map<K, V[]>, k: K, v: V): void {
  const list = map.get(k);
  if (list) list.push(v);
  else map.set(k, [v]);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
