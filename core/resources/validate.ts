/**
 * From documents to validated resources: the envelope (apiVersion, kind), v1beta1 conversion, each kind's JSON
 * Schema (the one shared ajv instance, defaults filled on a copy), then the checks that need the whole set
 * (`checks.ts`). Every problem in every document is collected; the caller decides what an error means (refuse
 * to start, keep the running set, answer 400), but nothing is ever half-accepted.
 *
 * `kind: Server` documents are the server's own configuration: `routr resources validate` checks them with the
 * server schema and reports them the same way; a resource store skips them (files) or refuses them (apply).
 */
import { schemaProblems, validator } from '../config/schemas.js';
import { checkServerDocument, deepFreeze } from '../config/server.js';
import { convertV1Config, isV1Config } from '../config/v1.js';
import { crossCheck } from './checks.js';
import { problemAt, type Problem } from './problems.js';
import { API_VERSION, isKind, KINDS, V1_API_VERSION, type Entry, type Kind, type Resource } from './types.js';
import { normaliseRoutrDocument, pointerAsWritten } from './routr-shapes.js';
import { convertV1 } from './v1.js';
import type { SourceDocument } from './yaml.js';

/** Schema file stem per kind (config/schemas/resource-<stem>.schema.json). */
const SCHEMA_OF: Record<Kind, string> = {
  AccessControlList: 'resource-access-control-list',
  Agent: 'resource-agent',
  Credentials: 'resource-credentials',
  Domain: 'resource-domain',
  Number: 'resource-number',
  Peer: 'resource-peer',
  Trunk: 'resource-trunk',
};

export interface CheckOptions {
  /** kind: Server documents: validated and reported (`validate`), skipped (`skip`) or refused (`refuse`, default). */
  servers?: 'validate' | 'skip' | 'refuse';
  /** v2 Domain refs by lower-cased domainUri from outside the batch (the running set), for v1 conversion. */
  domainRefs?: ReadonlyMap<string, string>;
}

export interface Checked {
  entries: Entry[];
  /** Documents of a known kind that failed their schema, kept (unfrozen, untrusted) for the cross checks. */
  partial: Entry[];
  /** Server documents that were validated (servers: 'validate'). */
  servers: number;
  problems: Problem[];
  warnings: Problem[];
}

/** Validate documents one by one (envelope, schema, v1 conversion); no cross-resource checks. */
export function checkDocuments(documents: SourceDocument[], options: CheckOptions = {}): Checked {
  const out: Checked = { entries: [], partial: [], servers: 0, problems: [], warnings: [] };
  const v1: SourceDocument[] = [];
  const domainRefs = new Map(options.domainRefs ?? []);
  for (const document of documents) {
    const { value } = document;
    let source = document.source;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      out.problems.push(problemAt(source, { path: '', message: 'not a resource: expected a mapping with apiVersion, kind, ref and spec' }));
      continue;
    }
    if (isV1Config(value)) {
      checkV1Config(document, options.servers ?? 'refuse', out);
      continue;
    }
    if ((value as { apiVersion?: unknown }).apiVersion === V1_API_VERSION) {
      v1.push(document);
      continue;
    }
    if ((value as { kind?: unknown }).kind === 'Server') {
      checkServer(document, options.servers ?? 'refuse', out);
      continue;
    }
    // Routr's own spellings (and its drafts') become the one canonical shape before the schema runs.
    const normalised = normaliseRoutrDocument(value as Record<string, unknown>);
    const doc = normalised.value;
    const ref = typeof doc.ref === 'string' ? doc.ref : undefined;
    const kind = typeof doc.kind === 'string' ? doc.kind : undefined;
    if (normalised.moved.length && source.lineOf) {
      const lineOf = source.lineOf;
      source = { ...source, lineOf: (pointer) => lineOf(pointerAsWritten(pointer, normalised.moved)) };
    }
    if (normalised.notes.length) out.warnings.push({ file: source.file, line: source.line, kind, ref, message: `read from Routr's shapes: ${normalised.notes.join('; ')}` });
    out.problems.push(...normalised.problems.map((p) => problemAt(source, { kind, ref, ...p })));
    const envelope: Problem[] = [];
    if (doc.apiVersion === undefined) envelope.push(problemAt(source, { kind, ref, path: '', message: 'missing required property "apiVersion"' }));
    else if (doc.apiVersion !== API_VERSION) {
      envelope.push(problemAt(source, { kind, ref, path: '/apiVersion', message: `unknown apiVersion ${JSON.stringify(doc.apiVersion)}: use ${API_VERSION} (v2, v2draft1 and ${V1_API_VERSION} files are read too)` }));
    }
    if (kind === undefined) envelope.push(problemAt(source, { ref, path: '', message: `missing required property "kind" (one of ${KINDS.join(', ')})` }));
    else if (!isKind(kind)) envelope.push(problemAt(source, { kind, ref, path: '/kind', message: `unknown kind ${JSON.stringify(kind)} (known: ${KINDS.join(', ')}, and Server for the server's own config)` }));
    if (envelope.length || !isKind(kind)) {
      out.problems.push(...envelope);
      continue;
    }
    const checked = checkResource(doc, kind);
    if ('problems' in checked || normalised.problems.length) {
      // A field the mapping already refused is not reported again by the schema.
      const refused = normalised.problems.map((p) => p.path);
      const fresh = 'problems' in checked ? checked.problems.filter((p) => !refused.some((r) => p.path === r || p.path.startsWith(`${r}/`))) : [];
      out.problems.push(...fresh.map((p) => problemAt(source, { kind, ref, ...p })));
      if (ref !== undefined) out.partial.push({ resource: doc as unknown as Resource, source });
      continue;
    }
    if (checked.resource.kind === 'Domain') domainRefs.set(checked.resource.spec.context.domainUri.toLowerCase(), checked.resource.ref);
    out.entries.push({ resource: checked.resource, source, input: doc });
  }
  if (v1.length) {
    const conversion = convertV1(v1, { domainRefs });
    out.problems.push(...conversion.problems);
    out.warnings.push(...conversion.warnings);
    const converted = checkDocuments(conversion.documents, { servers: 'refuse' });
    out.entries.push(...converted.entries);
    out.partial.push(...converted.partial);
    out.problems.push(...converted.problems);
  }
  return out;
}

/** One v2beta1 document of a known kind against its schema: a frozen copy with defaults, or its problems. */
export function checkResource(document: Record<string, unknown>, kind: Kind): { resource: Resource } | { problems: Array<{ path: string; message: string }> } {
  const copy = structuredClone(document);
  const validate = validator(SCHEMA_OF[kind]);
  if (!validate(copy)) return { problems: schemaProblems(validate.errors) };
  return { resource: deepFreeze(copy as unknown as Resource) };
}

function checkServer(document: SourceDocument, mode: 'validate' | 'skip' | 'refuse', out: Checked): void {
  const { value, source } = document;
  const ref = typeof (value as { ref?: unknown }).ref === 'string' ? (value as { ref: string }).ref : undefined;
  if (mode === 'skip') {
    out.warnings.push(problemAt(source, { kind: 'Server', ref, path: '', message: 'skipped: the server configuration is read from --config, not from the resources' }));
    return;
  }
  if (mode === 'refuse') {
    out.problems.push(problemAt(source, { kind: 'Server', ref, path: '/kind', message: 'Server is the server configuration (routr start --config), not a resource' }));
    return;
  }
  out.servers += 1;
  for (const p of checkServerDocument(value).problems) out.problems.push(problemAt(source, { kind: 'Server', ref, ...p }));
}

/** Routr v1's general configuration met among resources (its config folder held both): treated as a Server document. */
function checkV1Config(document: SourceDocument, mode: 'validate' | 'skip' | 'refuse', out: Checked): void {
  const { value, source } = document;
  const what = { kind: 'Config (v1beta1)', ref: 'config' };
  if (mode === 'skip') {
    out.warnings.push({ file: source.file, line: source.line, ...what, message: "skipped: Routr v1's general configuration is read by routr start --config, not as a resource" });
    return;
  }
  if (mode === 'refuse') {
    out.problems.push(problemAt(source, { ...what, path: '/apiVersion', message: "Routr v1's general configuration (routr start --config, routr config convert), not a resource" }));
    return;
  }
  out.servers += 1;
  const conversion = convertV1Config(value as Record<string, unknown>, { baseDir: source.file ? source.file.replace(/\/[^/]*$/, '') : undefined });
  for (const p of conversion.problems) out.problems.push(problemAt(source, { ...what, ...p }));
  if (conversion.document) for (const p of checkServerDocument(conversion.document).problems) out.problems.push({ file: source.file, line: source.line, ...what, message: `converted ${p.path || '/'}: ${p.message}` });
}

/** Documents → entries, with every per-document and cross-resource problem; `ok` when there are none. */
export function validateDocuments(documents: SourceDocument[], options: CheckOptions = {}): Checked & { ok: boolean } {
  const checked = checkDocuments(documents, options);
  checked.problems.push(...crossCheck(checked.entries, { partial: checked.partial, reported: checked.problems }));
  checked.problems = sortProblems(checked.problems);
  return { ...checked, ok: checked.problems.length === 0 };
}

/** By file, then line; problems without a file last. The sort is stable, so one line's problems keep their order. */
export function sortProblems(problems: Problem[]): Problem[] {
  return [...problems].sort((a, b) => {
    if (a.file !== b.file) return a.file === undefined ? 1 : b.file === undefined ? -1 : a.file < b.file ? -1 : 1;
    return (a.line ?? 0) - (b.line ?? 0);
  });
}
