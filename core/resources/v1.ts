/**
 * Routr v1beta1 resources (User, Agent, Domain, Gateway, DID, Peer) converted to v2beta1, so old files keep
 * working: Gateway becomes Trunk, DID becomes Number, inline credentials become Credentials resources and a
 * Domain's inline access list an AccessControlList. v1 Agents and Peers have no ref, so one is made from the
 * username. Every converted document yields a warning naming what it became; anything v2 cannot express
 * (User, extra Agent domains, Gateway registries) is dropped with a warning saying so.
 *
 * Each v1 document is checked against `config/schemas/resource-v1beta1.schema.json` first, so a broken v1 file
 * is reported in its own terms (v1 paths and lines).
 */
import { schemaAjv, schemaProblems } from '../config/schemas.js';
import { problemAt, type Problem } from './problems.js';
import { API_VERSION, type Source } from './types.js';
import type { SourceDocument } from './yaml.js';

const V1_SCHEMA = 'https://routr.dev/schemas/v1beta1/resources.json';
const V1_KINDS = ['User', 'Agent', 'Domain', 'Gateway', 'DID', 'Peer'];

export interface Conversion {
  /** v2beta1 documents, not yet validated, each with the v1 document's source. */
  documents: SourceDocument[];
  problems: Problem[];
  warnings: Problem[];
}

export interface ConvertOptions {
  /** Refs of v2 Domains already known (same batch, or the running set), by lower-cased domainUri. */
  domainRefs?: ReadonlyMap<string, string>;
}

type V1 = { kind: string; metadata: Record<string, unknown>; spec: Record<string, unknown> };
type Credentials1 = { username: string; secret: string };

export function convertV1(documents: SourceDocument[], options: ConvertOptions = {}): Conversion {
  const out: Conversion = { documents: [], problems: [], warnings: [] };
  const valid: Array<{ doc: V1; source: Source }> = [];
  for (const { value, source } of documents) {
    const doc = value as V1;
    const name = v1Name(doc);
    if (!V1_KINDS.includes(doc.kind)) {
      out.problems.push(problemAt(source, { kind: String(doc.kind), ref: name, path: '/kind', message: `unknown v1beta1 kind (known: ${V1_KINDS.join(', ')})` }));
      continue;
    }
    const validate = schemaAjv().getSchema(`${V1_SCHEMA}#/$defs/${doc.kind}`)!;
    if (!validate(doc)) {
      for (const p of schemaProblems(validate.errors)) out.problems.push(problemAt(source, { kind: `${doc.kind} (v1beta1)`, ref: name, ...p }));
      continue;
    }
    valid.push({ doc, source });
  }
  const domainRefs = new Map(options.domainRefs ?? []);
  // Domains first: Agents name theirs by URI.
  for (const { doc } of valid) {
    if (doc.kind === 'Domain') domainRefs.set(domainUriOf(doc).toLowerCase(), ownRef(doc) ?? `domain-${slug(domainUriOf(doc))}`);
  }
  for (const { doc, source } of valid) {
    const made: Array<Record<string, unknown>> = [];
    const notes: string[] = [];
    convertOne(doc, { made, notes, domainRefs });
    const from = `v1beta1 ${doc.kind} "${v1Name(doc)}"`;
    const converted: Source = { file: source.file, line: source.line, convertedFrom: from };
    for (const resource of made) out.documents.push({ value: resource, source: converted });
    const list = made.map((r) => `${r.kind} ${r.ref}`).join(', ');
    const message = made.length ? `${from} converted to ${API_VERSION}: ${list}` : `${from} dropped`;
    out.warnings.push({ file: source.file, line: source.line, message: [message, ...notes].join('; ') });
  }
  return out;
}

interface Context {
  made: Array<Record<string, unknown>>;
  notes: string[];
  domainRefs: Map<string, string>;
}

function convertOne(doc: V1, context: Context): void {
  const { made, notes } = context;
  const spec = doc.spec;
  const name = typeof doc.metadata.name === 'string' ? { name: doc.metadata.name } : undefined;
  switch (doc.kind) {
    case 'User':
      notes.push('v2 has no User kind: the management API uses spec.http.apiToken');
      return;
    case 'Agent': {
      const creds = spec.credentials as Credentials1;
      const ref = ownRef(doc) ?? `agent-${slug(creds.username)}`;
      const domains = spec.domains as string[];
      if (domains.length > 1) notes.push(`a v2 Agent belongs to one Domain: kept ${domains[0]}, dropped ${domains.slice(1).join(', ')}`);
      made.push(credentials(`${ref}-credentials`, creds));
      made.push(resource('Agent', ref, name, { username: creds.username, domainRef: domainRefFor(domains[0], context), credentialsRef: `${ref}-credentials` }));
      return;
    }
    case 'Domain': {
      const ctx = spec.context as { domainUri: string; egressPolicy?: { rule: string; didRef: string }; accessControlList?: { allow?: string[]; deny?: string[] } };
      const ref = context.domainRefs.get(ctx.domainUri.toLowerCase())!;
      const v2Context = { domainUri: ctx.domainUri, ...(ctx.egressPolicy ? { egressPolicies: [{ rule: ctx.egressPolicy.rule, numberRef: ctx.egressPolicy.didRef }] } : {}) };
      if (ctx.accessControlList) {
        made.push(resource('AccessControlList', `${ref}-acl`, name, { accessControlList: { allow: ctx.accessControlList.allow ?? [], deny: ctx.accessControlList.deny ?? [] } }));
      }
      made.push(resource('Domain', ref, name, { ...(ctx.accessControlList ? { accessControlListRef: `${ref}-acl` } : {}), context: v2Context }));
      return;
    }
    case 'Gateway': {
      const ref = String(doc.metadata.ref);
      const [host, port] = splitHostPort(String(spec.host));
      let transport = spec.transport as string;
      if (transport === 'sctp') {
        notes.push('transport sctp is not supported: udp used');
        transport = 'udp';
      }
      const outbound: Record<string, unknown> = { sendRegister: spec.credentials !== undefined, uris: [{ uri: { host, ...(port ? { port } : {}), transport } }] };
      if (spec.credentials) {
        outbound.credentialsRef = `${ref}-credentials`;
        made.push(credentials(`${ref}-credentials`, spec.credentials as Credentials1));
      }
      if (spec.registries) notes.push('registries dropped: add them to the Trunk by hand if still needed');
      if (typeof spec.expires === 'number') outbound.expires = spec.expires;
      made.push(resource('Trunk', ref, name, { outbound }));
      return;
    }
    case 'DID': {
      const meta = doc.metadata as { ref: string; gwRef: string; geoInfo?: Record<string, string> };
      const location = spec.location as { telUrl: string; aorLink: string };
      const metadata = meta.geoInfo ? { name: location.telUrl, geoInfo: meta.geoInfo } : { name: location.telUrl };
      made.push(resource('Number', meta.ref, metadata, { trunkRef: meta.gwRef, location: { telUrl: location.telUrl, aorLink: location.aorLink } }));
      return;
    }
    case 'Peer': {
      const creds = spec.credentials as Credentials1;
      const ref = ownRef(doc) ?? `peer-${slug(creds.username)}`;
      const device = spec.device as string | undefined;
      if (!device) notes.push(`no device: aor set to backend:${creds.username}`);
      made.push(credentials(`${ref}-credentials`, creds));
      made.push(
        resource('Peer', ref, name, {
          username: creds.username,
          aor: device ? `sip:${creds.username}@${device}` : `backend:${creds.username}`,
          ...(spec.contactAddr ? { contactAddr: spec.contactAddr } : {}),
          credentialsRef: `${ref}-credentials`,
        }),
      );
      return;
    }
  }
}

/** The Domain an Agent's first v1 domain names; one is made (once, with a note) when none has that URI. */
function domainRefFor(uri: string, context: Context): string {
  const known = context.domainRefs.get(uri.toLowerCase());
  if (known) return known;
  const ref = `domain-${slug(uri)}`;
  context.domainRefs.set(uri.toLowerCase(), ref);
  context.made.push(resource('Domain', ref, { name: uri }, { context: { domainUri: uri } }));
  context.notes.push(`no Domain with domainUri ${uri}: Domain ${ref} created`);
  return ref;
}

function resource(kind: string, ref: string, metadata: Record<string, unknown> | undefined, spec: Record<string, unknown>): Record<string, unknown> {
  return { apiVersion: API_VERSION, kind, ref, ...(metadata ? { metadata } : {}), spec };
}

function credentials(ref: string, creds: Credentials1): Record<string, unknown> {
  return resource('Credentials', ref, undefined, { credentials: { username: creds.username, password: creds.secret } });
}

/** The ref Routr v1's API gave a resource it stored (metadata.ref), when there is one. */
function ownRef(doc: V1): string | undefined {
  return typeof doc.metadata.ref === 'string' && (doc.kind === 'Agent' || doc.kind === 'Peer' || doc.kind === 'Domain') ? slug(doc.metadata.ref) : undefined;
}

function domainUriOf(doc: V1): string {
  return (doc.spec.context as { domainUri: string }).domainUri;
}

function v1Name(doc: V1): string {
  const meta = (doc.metadata ?? {}) as Record<string, unknown>;
  const creds = (doc.spec?.credentials ?? {}) as Record<string, unknown>;
  return String(meta.ref ?? meta.name ?? creds.username ?? '<unnamed>');
}

function splitHostPort(value: string): [string, number | undefined] {
  const match = /^(.*):(\d{1,5})$/.exec(value);
  return match && !match[1].includes(':') ? [match[1], Number(match[2])] : [value, undefined];
}

/** A ref made from free text: invalid characters become '-', at most 100 characters. */
export function slug(value: string): string {
  const cleaned = value.replace(/[^a-zA-Z0-9._-]+/g, '-').replace(/^[^a-zA-Z0-9]+/, '');
  return (cleaned || 'x').slice(0, 100);
}
