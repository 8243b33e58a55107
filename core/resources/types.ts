/**
 * The resource kinds operators describe their SIP world with (apiVersion v2beta1), in the envelope
 * `apiVersion / kind / ref / metadata / spec`, and the table of which fields refer to which kinds.
 *
 * These types describe a resource after validation: schema defaults are filled (`enabled: true`,
 * `privacy: 'NONE'`, ...), so readers never guess a default. The schemas in `config/schemas/resource-*.schema.json`
 * are the source of truth; these interfaces follow them.
 */

export const API_VERSION = 'v2beta1';
export const V1_API_VERSION = 'v1beta1';

export const KINDS = ['AccessControlList', 'Agent', 'Credentials', 'Domain', 'Number', 'Peer', 'Trunk'] as const;
export type Kind = (typeof KINDS)[number];

export function isKind(value: unknown): value is Kind {
  return typeof value === 'string' && (KINDS as readonly string[]).includes(value);
}

/** Who a resource belongs to (tenants.ts): its tenant (absent: the operator's own) and who else may use it. */
export interface Tenancy {
  tenant?: string;
  /** Peers, Trunks and AccessControlLists only: tenants (or "*") that may use it too. */
  sharedWith?: string[];
}

interface Envelope<K extends Kind, S, M = { name?: string }> {
  apiVersion: typeof API_VERSION;
  kind: K;
  ref: string;
  metadata?: M & Tenancy;
  spec: S;
}

export type AccessControlList = Envelope<'AccessControlList', { accessControlList: { allow: string[]; deny: string[] } }>;

export type Agent = Envelope<
  'Agent',
  {
    username: string;
    domainRef: string;
    credentialsRef?: string;
    privacy: 'PRIVATE' | 'NONE';
    maxContacts?: number;
    expires?: number;
    enabled: boolean;
  }
>;

/**
 * Routr's shape, `spec.credentials.{username,password}` (the flat form is read and mapped on load). Host-side
 * only: the capability and the management API hand out Credentials without `password`.
 */
export type Credentials = Envelope<'Credentials', { credentials: { username: string; password: string } }>;

export interface EgressPolicy {
  rule: string;
  numberRef: string;
}

export type Domain = Envelope<
  'Domain',
  { accessControlListRef?: string; context: { domainUri: string; egressPolicies: EgressPolicy[] } }
>;

export interface GeoInfo {
  city?: string;
  country?: string;
  countryISOCode?: string;
}

export type NumberResource = Envelope<
  'Number',
  {
    trunkRef: string;
    /** A backend group instead of location.aorLink (Routr v2 spec). */
    next?: { backend: string; ref?: string; aorLink?: string };
    location: {
      telUrl: string;
      aorLink?: string;
      sessionAffinityHeader?: string;
      extraHeaders: Array<{ name: string; value: string }>;
    };
  },
  { name?: string; localFormat?: string; geoInfo?: GeoInfo }
>;

export interface TrunkUri {
  uri: { host: string; port?: number; transport?: 'udp' | 'tcp' | 'tls' | 'ws' | 'wss'; user?: string };
  weight: number;
  priority: number;
  enabled: boolean;
}

/** OPTIONS health probes of a Trunk's outbound URIs or a Peer's bindings (over spec.host.probes). */
export interface ProbeSettings {
  enabled?: boolean;
  intervalSeconds?: number;
  failuresToMarkDown?: number;
  successesToMarkUp?: number;
}

export type Trunk = Envelope<
  'Trunk',
  {
    inbound?: { uri: string; accessControlListRef?: string; credentialsRef?: string };
    outbound?: { sendRegister: boolean; expires: number; credentialsRef?: string; uris: TrunkUri[]; probes?: ProbeSettings };
  },
  { name?: string; region?: string }
>;

export type Peer = Envelope<
  'Peer',
  {
    username: string;
    aor: string;
    contactAddr?: string;
    credentialsRef?: string;
    accessControlListRef?: string;
    loadBalancing: { algorithm: 'round-robin' | 'least-sessions'; withSessionAffinity: boolean };
    probes?: ProbeSettings;
    maxContacts?: number;
    expires?: number;
    enabled: boolean;
  }
>;

export type Resource = AccessControlList | Agent | Credentials | Domain | NumberResource | Peer | Trunk;

export type ResourceOf<K extends Kind> = Extract<Resource, { kind: K }>;

/** Where a document came from, for messages: `file:line`. Resources read from KV have no file. */
export interface Source {
  file?: string;
  line?: number;
  /** Line of a JSON pointer inside the document, when the loader knows it. */
  lineOf?: (pointer: string) => number | undefined;
  /** Set when the resource was converted from a v1beta1 document (its paths then differ from the source's). */
  convertedFrom?: string;
}

/** A validated resource and where it came from. */
export interface Entry<R extends Resource = Resource> {
  /** Deep-frozen, schema defaults filled. */
  resource: R;
  source: Source;
  /** The document as written (no defaults filled): what a store writes back. */
  input?: Record<string, unknown>;
}

/** A field holding the ref of another resource: the JSON pointer (`*` for every array item) and the kind it names. */
export interface ReferenceField {
  kind: Kind;
  path: string;
  target: Kind;
}

export const REFERENCE_FIELDS: readonly ReferenceField[] = [
  { kind: 'Agent', path: '/spec/domainRef', target: 'Domain' },
  { kind: 'Agent', path: '/spec/credentialsRef', target: 'Credentials' },
  { kind: 'Domain', path: '/spec/accessControlListRef', target: 'AccessControlList' },
  { kind: 'Domain', path: '/spec/context/egressPolicies/*/numberRef', target: 'Number' },
  { kind: 'Number', path: '/spec/trunkRef', target: 'Trunk' },
  { kind: 'Trunk', path: '/spec/inbound/accessControlListRef', target: 'AccessControlList' },
  { kind: 'Trunk', path: '/spec/inbound/credentialsRef', target: 'Credentials' },
  { kind: 'Trunk', path: '/spec/outbound/credentialsRef', target: 'Credentials' },
  { kind: 'Peer', path: '/spec/credentialsRef', target: 'Credentials' },
  { kind: 'Peer', path: '/spec/accessControlListRef', target: 'AccessControlList' },
];

/** One reference found in a resource: `path` is concrete (`/spec/context/egressPolicies/0/numberRef`). */
export interface Reference {
  from: { kind: Kind; ref: string };
  path: string;
  target: { kind: Kind; ref: string };
}

/** Every reference a resource makes, with concrete paths. */
export function referencesOf(resource: Resource): Reference[] {
  const found: Reference[] = [];
  for (const field of REFERENCE_FIELDS) {
    if (field.kind !== resource.kind) continue;
    for (const [path, value] of valuesAt(resource, field.path)) {
      if (typeof value === 'string') found.push({ from: { kind: resource.kind, ref: resource.ref }, path, target: { kind: field.target, ref: value } });
    }
  }
  return found;
}

/** Values at a JSON pointer with `*` wildcards over arrays, with their concrete pointers. */
function valuesAt(root: unknown, pattern: string): Array<[string, unknown]> {
  let current: Array<[string, unknown]> = [['', root]];
  for (const token of pattern.split('/').slice(1)) {
    const next: Array<[string, unknown]> = [];
    for (const [path, value] of current) {
      if (token === '*') {
        if (Array.isArray(value)) value.forEach((item, i) => next.push([`${path}/${i}`, item]));
      } else if (value !== null && typeof value === 'object' && Object.hasOwn(value, token)) {
        next.push([`${path}/${token}`, (value as Record<string, unknown>)[token]]);
      }
    }
    current = next;
  }
  return current;
}

/** Kind names as people type them: any case, singular or plural, and `acl`. */
export function parseKind(name: string): Kind | undefined {
  const lower = name.toLowerCase();
  if (lower === 'acl' || lower === 'acls') return 'AccessControlList';
  return KINDS.find((k) => {
    const kind = k.toLowerCase();
    return lower === kind || lower === `${kind}s` || (kind.endsWith('s') && lower === kind);
  });
}
