/**
 * ResourceStore: where the running set comes from and how it changes. Two providers implement it — `files`
 * (a directory, hot reloaded) and `nats` (a JetStream KV bucket every node watches) — with one rule: a change is
 * validated as the WHOLE resulting set before anything is written or swapped in, so readers only ever see
 * complete, valid sets, and a refused change leaves the running set as it was.
 *
 * The planning both providers share lives here: merging applied documents over the current set and deciding
 * whether a delete is allowed.
 */
import { crossCheck } from './checks.js';
import { describeSource, problemAt, type Problem } from './problems.js';
import { canonicalJson, ResourceSet } from './set.js';
import { tenantOf } from './tenants.js';
import type { Entry, Kind } from './types.js';
import { checkDocuments, sortProblems } from './validate.js';
import type { SourceDocument } from './yaml.js';

export type ChangeAction = 'created' | 'updated' | 'unchanged';

export interface ApplyChange {
  kind: Kind;
  ref: string;
  action: ChangeAction;
}

/**
 * `invalid`: the documents or the resulting set have problems; `forbidden`: a tenant's apply names another
 * tenant, or would replace another tenant's resource; `conflict`: the store cannot take the change.
 */
export type ApplyResult =
  | { ok: true; changes: ApplyChange[]; warnings: Problem[] }
  | { ok: false; status: 'invalid' | 'forbidden' | 'conflict'; problems: Problem[]; warnings: Problem[] };

export interface ApplyOptions {
  /**
   * Apply on behalf of this tenant (an API key bound to it): every document must belong to it, and no resource
   * of another tenant (or an untenanted one) may be replaced. Absent: no restriction (the operator).
   */
  tenant?: string;
}

export type DeleteResult = { ok: true } | { ok: false; status: 'not-found' | 'referenced' | 'conflict'; problems: Problem[] };

export type ChangeListener = (set: ResourceSet, previous: ResourceSet) => void;

export interface ResourceStore {
  readonly provider: 'files' | 'nats' | 'redis' | 'restful';
  /** The running set: valid, immutable, answered from memory. */
  current(): ResourceSet;
  /** Called after each swap to a new set (not for reloads that change nothing); returns the unsubscribe function. */
  onChange(listener: ChangeListener): () => void;
  /** Create or replace resources (by kind and ref), all or nothing. */
  apply(documents: SourceDocument[], options?: ApplyOptions): Promise<ApplyResult>;
  /** Remove one resource; refused while others refer to it. */
  delete(kind: Kind, ref: string): Promise<DeleteResult>;
  close(): Promise<void>;
}

/** A document already in the store, with the identity (`Kind/ref`) the store knows it by. */
export interface StoredDocument {
  id: string;
  document: SourceDocument;
}

export interface ApplyPlan {
  ok: boolean;
  /** What a plan that is not ok is: problems in the documents or the set, or a tenant overstepping. */
  failure: 'invalid' | 'forbidden';
  problems: Problem[];
  warnings: Problem[];
  changes: ApplyChange[];
  /** The whole resulting set's entries (when ok). */
  entries: Entry[];
  /** The entries that are created or updated. */
  writes: Entry[];
  /** The stored entries being replaced, by `Kind/ref`. */
  replaced: Map<string, Entry>;
}

/** What a store holds, as documents: the entries of its running set. */
export function storedDocuments(set: ResourceSet): StoredDocument[] {
  return set.entries().map((e) => ({ id: `${e.resource.kind}/${e.resource.ref}`, document: { value: e.input ?? e.resource, source: e.source } }));
}

/**
 * Merge `documents` over what the store holds and validate the result as a whole. The stored documents are
 * checked again rather than trusted, so a store that holds an invalid set (written by hand, or by a writer that
 * died half-way) can be repaired by an apply that makes the whole valid — and is refused until it does.
 */
export function planApply(stored: StoredDocument[], documents: SourceDocument[], options: ApplyOptions = {}): ApplyPlan {
  const base = stored.map((s) => ({ id: s.id, ...checkDocuments([s.document], { servers: 'refuse' }) }));
  const baseEntries = base.flatMap((b) => b.entries);
  const domainRefs = new Map(baseEntries.flatMap((e) => (e.resource.kind === 'Domain' ? [[e.resource.spec.context.domainUri.toLowerCase(), e.resource.ref] as const] : [])));
  const checked = checkDocuments(documents, { servers: 'refuse', domainRefs });
  const plan: ApplyPlan = { ok: false, failure: 'invalid', problems: [...checked.problems], warnings: checked.warnings, changes: [], entries: [], writes: [], replaced: new Map() };
  const incoming = new Map<string, Entry>();
  for (const entry of [...checked.entries, ...checked.partial]) {
    const id = `${entry.resource.kind}/${entry.resource.ref}`;
    const earlier = incoming.get(id);
    if (earlier) {
      const where = describeSource(earlier.source);
      plan.problems.push(problemAt(entry.source, { kind: entry.resource.kind, ref: entry.resource.ref, path: '/ref', message: `given twice in this change${where ? ` (also at ${where})` : ''}` }));
    }
    incoming.set(id, entry);
  }
  if (options.tenant !== undefined) {
    const forbidden = tenantProblems(options.tenant, incoming, base);
    if (forbidden.length) return { ...plan, failure: 'forbidden', problems: forbidden };
  }
  const partial = new Set(checked.partial);
  const replacedIds = new Set(stored.filter((s) => incoming.has(s.id)).map((s) => s.id));
  const existing = new Map(baseEntries.map((e) => [`${e.resource.kind}/${e.resource.ref}`, e]));
  for (const [id, entry] of incoming) {
    if (partial.has(entry)) continue;
    const old = existing.get(id);
    const same = old !== undefined && canonicalJson(old.resource) === canonicalJson(entry.resource);
    plan.changes.push({ kind: entry.resource.kind, ref: entry.resource.ref, action: !replacedIds.has(id) ? 'created' : same ? 'unchanged' : 'updated' });
    if (same) continue;
    if (old) plan.replaced.set(id, old);
    plan.writes.push(entry);
  }
  // Stored documents that are replaced drop out, even ones that did not validate: the new version replaces them.
  const kept = base.filter((b) => !replacedIds.has(b.id));
  plan.entries = [...kept.flatMap((b) => b.entries), ...[...incoming.values()].filter((e) => !partial.has(e))];
  const reported = [...plan.problems, ...kept.flatMap((b) => b.problems)];
  const crossProblems = crossCheck(plan.entries, { partial: [...kept.flatMap((b) => b.partial), ...checked.partial], reported });
  plan.problems = sortProblems([...reported, ...crossProblems]);
  plan.ok = plan.problems.length === 0;
  return plan;
}

/** A tenant's apply may only carry its own resources, and only replace its own. */
function tenantProblems(tenant: string, incoming: Map<string, Entry>, base: Array<{ id: string; entries: Entry[]; partial: Entry[] }>): Problem[] {
  const stored = new Map(base.flatMap((b) => [...b.entries, ...b.partial].map((e) => [b.id, e] as const)));
  const problems: Problem[] = [];
  for (const [id, entry] of incoming) {
    const { kind, ref } = entry.resource;
    if (tenantOf(entry.resource) !== tenant) {
      problems.push(problemAt(entry.source, { kind, ref, path: '/metadata/tenant', message: `a principal of tenant "${tenant}" applies resources of that tenant only` }));
      continue;
    }
    const old = stored.get(id);
    if (old && tenantOf(old.resource) !== tenant) {
      problems.push(problemAt(entry.source, { kind, ref, path: '/ref', message: `ref "${ref}" is taken by a resource of another tenant: choose another ref` }));
    }
  }
  return problems;
}

/** Whether `kind/ref` may be deleted from `current`: it must exist and nothing may refer to it. */
export function checkDelete(current: ResourceSet, target: { kind: Kind; ref: string }): DeleteResult {
  const { kind, ref } = target;
  if (!current.has(kind, ref)) return { ok: false, status: 'not-found', problems: [{ kind, ref, message: 'does not exist' }] };
  const referrers = current.referrers(kind, ref);
  if (referrers.length === 0) return { ok: true };
  return {
    ok: false,
    status: 'referenced',
    problems: referrers.map((r) => ({ kind, ref, message: `still referenced by ${r.from.kind} ${r.from.ref} at ${r.path}; change or delete it first` })),
  };
}

/** Listener bookkeeping shared by the providers; a throwing listener is reported, never stops the others. */
export class Listeners {
  readonly #listeners = new Set<ChangeListener>();

  add(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  emit(set: ResourceSet, previous: ResourceSet, onError: (err: unknown) => void): void {
    for (const listener of this.#listeners) {
      try {
        listener(set, previous);
      } catch (err) {
        onError(err);
      }
    }
  }
}
