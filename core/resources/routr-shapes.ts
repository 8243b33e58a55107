/**
 * Routr's own resource files, read as Routr writes them. Routr v2 (`fonoster/routr`, its `config/resources/`,
 * its APIServer reference and its schemas in `mods/common/src/connect/schemas/`) spells a few things its own way,
 * and its drafts (`v2draft1`) spelled more of them differently; routr reads every one of those spellings and turns
 * them into its one canonical shape BEFORE the schema runs, so plugins, the API and the stores only ever see one
 * shape (README "Routr's resource reference, field by field" is the table).
 *
 * Two kinds of mapping:
 * - Routr v2beta1's current spellings, mapped silently: `apiVersion: v2`, lower-case kinds (`agent`),
 *   `privacy: Private|None`, upper-case transports (`UDP`), `countryIsoCode`, `ROUND_ROBIN`.
 * - Older or questionable forms, mapped with a warning naming what was read: `v2draft1`, the ref under
 *   `metadata.ref`, `metadata.dependsOn`, Credentials' flat `spec.username/password`, `credentialRef`, a Domain's
 *   `egressPolicy` and `context.accessControlListRef`, a Number's `sessionAffinityProp` and `props`, a Trunk's
 *   string outbound `uri`, a Peer without `username`.
 * What routr cannot honour (an `sctp` transport, two spellings of one field that disagree) is a problem.
 *
 * The mapping records where each moved field came from, so a schema problem about a moved field still points at
 * the line the operator wrote.
 */
import { API_VERSION, KINDS, type Kind } from './types.js';

export interface NormalisedDocument {
  value: Record<string, unknown>;
  /** What was mapped with a warning, one phrase each (joined into one warning per document). */
  notes: string[];
  problems: Array<{ path: string; message: string }>;
  /** [canonical pointer, pointer as written] for fields that moved. */
  moved: Array<[string, string]>;
}

/** apiVersions read as v2beta1: Routr's schemas accept `v2`; `v2draft1` is the pre-release draft. */
export const ROUTR_API_VERSIONS = new Set([API_VERSION, 'v2', 'v2draft1']);

const KIND_BY_LOWER = new Map<string, Kind>(KINDS.map((k) => [k.toLowerCase(), k]));

type Obj = Record<string, unknown>;

function isObj(value: unknown): value is Obj {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Map one document (not v1beta1, not Server) to the canonical v2beta1 shape; the input is not changed. */
export function normaliseRoutrDocument(document: Obj): NormalisedDocument {
  const doc = structuredClone(document);
  const out: NormalisedDocument = { value: doc, notes: [], problems: [], moved: [] };
  if (doc.apiVersion === 'v2draft1') {
    out.notes.push('apiVersion v2draft1 (Routr\'s draft) read as v2beta1');
    doc.apiVersion = API_VERSION;
  } else if (doc.apiVersion === 'v2') {
    doc.apiVersion = API_VERSION;
  }
  if (typeof doc.kind === 'string' && !KINDS.includes(doc.kind as Kind)) {
    const known = KIND_BY_LOWER.get(doc.kind.toLowerCase());
    if (known) doc.kind = known;
  }
  normaliseMetadata(doc, out);
  if (isObj(doc.spec)) {
    switch (doc.kind) {
      case 'Credentials':
        credentials(doc.spec, out);
        break;
      case 'Agent':
        agent(doc.spec, out);
        break;
      case 'Domain':
        domain(doc.spec, out);
        break;
      case 'Number':
        number(doc, out);
        break;
      case 'Trunk':
        trunk(doc.spec, out);
        break;
      case 'Peer':
        peer(doc.spec, out);
        break;
    }
  }
  return out;
}

/** The draft kept the ref in `metadata.ref` and listed `metadata.dependsOn` (routr checks references itself). */
function normaliseMetadata(doc: Obj, out: NormalisedDocument): void {
  const metadata = doc.metadata;
  if (!isObj(metadata)) return;
  if (metadata.ref !== undefined) {
    if (doc.ref === undefined) {
      doc.ref = metadata.ref;
      out.notes.push('metadata.ref read as ref');
      out.moved.push(['/ref', '/metadata/ref']);
    } else if (doc.ref !== metadata.ref) {
      out.problems.push({ path: '/metadata/ref', message: `metadata.ref ${JSON.stringify(metadata.ref)} differs from ref ${JSON.stringify(doc.ref)}: keep one` });
    } else {
      out.notes.push('metadata.ref dropped (same as ref)');
    }
    delete metadata.ref;
  }
  if (metadata.dependsOn !== undefined) {
    delete metadata.dependsOn;
    out.notes.push('metadata.dependsOn dropped (routr checks every *Ref itself)');
  }
}

/** Routr's shape is `spec.credentials.{username,password}`; routr's own first shape was flat. */
function credentials(spec: Obj, out: NormalisedDocument): void {
  const flat = 'username' in spec || 'password' in spec;
  if (!flat) return;
  if (spec.credentials !== undefined) {
    out.problems.push({ path: '/spec', message: 'give spec.credentials.{username,password} or the flat spec.username/spec.password, not both' });
    return;
  }
  const nested: Obj = {};
  for (const field of ['username', 'password'] as const) {
    if (field in spec) {
      nested[field] = spec[field];
      delete spec[field];
      out.moved.push([`/spec/credentials/${field}`, `/spec/${field}`]);
    }
  }
  spec.credentials = nested;
  out.moved.push(['/spec/credentials', '/spec']);
  out.notes.push('flat spec.username/spec.password read as spec.credentials.{username,password} (write it that way; the flat form is deprecated)');
}

function agent(spec: Obj, out: NormalisedDocument): void {
  if (typeof spec.privacy === 'string' && /^(private|none)$/i.test(spec.privacy)) spec.privacy = spec.privacy.toUpperCase();
  rename(spec, 'credentialRef', 'credentialsRef', { out, base: '/spec', note: 'credentialRef (draft) read as credentialsRef' });
}

function domain(spec: Obj, out: NormalisedDocument): void {
  const context = spec.context;
  if (!isObj(context)) return;
  if (context.accessControlListRef !== undefined) {
    if (spec.accessControlListRef !== undefined && spec.accessControlListRef !== context.accessControlListRef) {
      out.problems.push({ path: '/spec/context/accessControlListRef', message: `differs from spec.accessControlListRef ${JSON.stringify(spec.accessControlListRef)}: keep one` });
    } else {
      spec.accessControlListRef = context.accessControlListRef;
      out.moved.push(['/spec/accessControlListRef', '/spec/context/accessControlListRef']);
      out.notes.push('spec.context.accessControlListRef read as spec.accessControlListRef (Routr\'s own loader ignores it there; routr enforces it)');
    }
    delete context.accessControlListRef;
  }
  if (context.egressPolicy !== undefined) {
    if (context.egressPolicies !== undefined) {
      out.problems.push({ path: '/spec/context/egressPolicy', message: 'give egressPolicies (a list) or the draft\'s egressPolicy, not both' });
    } else {
      context.egressPolicies = [context.egressPolicy];
      out.moved.push(['/spec/context/egressPolicies/0', '/spec/context/egressPolicy']);
      out.notes.push('egressPolicy (draft) read as egressPolicies: [it]');
    }
    delete context.egressPolicy;
  }
}

function number(doc: Obj, out: NormalisedDocument): void {
  const geoInfo = isObj(doc.metadata) ? doc.metadata.geoInfo : undefined;
  if (isObj(geoInfo) && geoInfo.countryIsoCode !== undefined) {
    // Routr renamed countryISOCode to countryIsoCode in 2024; both spellings are Routr's own.
    if (geoInfo.countryISOCode !== undefined && geoInfo.countryISOCode !== geoInfo.countryIsoCode) {
      out.problems.push({ path: '/metadata/geoInfo/countryIsoCode', message: `differs from countryISOCode ${JSON.stringify(geoInfo.countryISOCode)}: keep one` });
    } else {
      geoInfo.countryISOCode = geoInfo.countryIsoCode;
      out.moved.push(['/metadata/geoInfo/countryISOCode', '/metadata/geoInfo/countryIsoCode']);
    }
    delete geoInfo.countryIsoCode;
  }
  const location = isObj(doc.spec) ? doc.spec.location : undefined;
  if (!isObj(location)) return;
  rename(location, 'sessionAffinityProp', 'sessionAffinityHeader', { out, base: '/spec/location', note: 'sessionAffinityProp (draft) read as sessionAffinityHeader' });
  if (location.props !== undefined) {
    if (location.extraHeaders !== undefined) {
      out.problems.push({ path: '/spec/location/props', message: 'give extraHeaders or the draft\'s props, not both' });
    } else {
      // The draft wrote props as [{name, value}] and, earlier, as [{"x-room-id": "value"}].
      location.extraHeaders = Array.isArray(location.props)
        ? location.props.map((item) => {
            if (!isObj(item) || 'name' in item) return item;
            const entries = Object.entries(item);
            return entries.length === 1 ? { name: entries[0][0], value: entries[0][1] } : item;
          })
        : location.props;
      out.moved.push(['/spec/location/extraHeaders', '/spec/location/props']);
      out.notes.push('props (draft) read as extraHeaders');
    }
    delete location.props;
  }
}

function trunk(spec: Obj, out: NormalisedDocument): void {
  const outbound = spec.outbound;
  if (!isObj(outbound) || !Array.isArray(outbound.uris)) return;
  outbound.uris.forEach((entry, i) => {
    if (!isObj(entry)) return;
    const path = `/spec/outbound/uris/${i}/uri`;
    if (typeof entry.uri === 'string') {
      const parsed = parseOutboundUri(entry.uri);
      if (!parsed) {
        out.problems.push({ path, message: `${JSON.stringify(entry.uri)} is not a SIP URI (sip:[user@]host[:port][;transport=udp|tcp|tls|ws|wss]); write uri: {host, port, transport, user}` });
        return;
      }
      out.notes.push(`outbound uris[${i}].uri ${JSON.stringify(entry.uri)} (a string, draft) read as {host, port, transport, user}`);
      entry.uri = parsed;
    }
    const uri = entry.uri;
    if (!isObj(uri) || typeof uri.transport !== 'string') return;
    const transport = uri.transport.toLowerCase();
    if (transport === 'sctp') {
      out.problems.push({ path: `${path}/transport`, message: 'routr has no SCTP transport (Node.js has no SCTP sockets): use udp, tcp or tls' });
      return;
    }
    uri.transport = transport;
  });
}

/** `sip:[user@]host[:port][;transport=x]`, the draft's string form of an outbound URI. */
function parseOutboundUri(text: string): Obj | undefined {
  const match = /^sips?:(?:([^@;:]+)@)?(\[[0-9a-fA-F:.]+\]|[^:;?]+)(?::(\d{1,5}))?((?:;[^;?]*)*)$/i.exec(text.trim());
  if (!match) return undefined;
  const [, user, host, port, params] = match;
  const transport = /;transport=([a-z]+)/i.exec(params ?? '')?.[1]?.toLowerCase();
  return { host, ...(port ? { port: Number(port) } : {}), ...(transport ? { transport } : {}), ...(user ? { user } : {}) };
}

function peer(spec: Obj, out: NormalisedDocument): void {
  const balancing = spec.loadBalancing;
  if (isObj(balancing) && typeof balancing.algorithm === 'string' && /^(round|least)[-_](robin|sessions)$/i.test(balancing.algorithm)) {
    balancing.algorithm = balancing.algorithm.toLowerCase().replace('_', '-');
  }
  // Draft Peers had no username: they registered as the user part of their aor (backend:conference → conference).
  if (spec.username === undefined && typeof spec.aor === 'string') {
    const user = /^[a-z][a-z0-9+.-]*:(?:([^@;]+)@[^;]*|([^@;:]+))/i.exec(spec.aor);
    const username = user?.[1] ?? user?.[2];
    if (username) {
      spec.username = username;
      out.moved.push(['/spec/username', '/spec/aor']);
      out.notes.push(`no username (draft): "${username}" taken from aor ${spec.aor}`);
    }
  }
}

function rename(container: Obj, from: string, to: string, options: { out: NormalisedDocument; base: string; note: string }): void {
  if (container[from] === undefined) return;
  const { out, base } = options;
  if (container[to] !== undefined) {
    if (container[to] !== container[from]) out.problems.push({ path: `${base}/${from}`, message: `differs from ${to} ${JSON.stringify(container[to])}: keep one` });
  } else {
    container[to] = container[from];
    out.moved.push([`${base}/${to}`, `${base}/${from}`]);
    out.notes.push(options.note);
  }
  delete container[from];
}

/** A pointer in the canonical document mapped back to where it was written (longest moved prefix wins). */
export function pointerAsWritten(pointer: string, moved: ReadonlyArray<[string, string]>): string {
  let best: [string, string] | undefined;
  for (const pair of moved) {
    if ((pointer === pair[0] || pointer.startsWith(`${pair[0]}/`)) && (!best || pair[0].length > best[0].length)) best = pair;
  }
  return best ? best[1] + pointer.slice(best[0].length) : pointer;
}
