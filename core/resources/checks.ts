/**
 * The checks a schema cannot make because they need the whole set: refs unique across every kind (and every
 * tenant: refs are the stores' keys); Agent usernames unique per tenant, Peer usernames unique against every
 * Agent and Peer (a Peer is recognised by its username alone); Domain URIs, Number tel: URLs and Trunk inbound
 * hosts unique by meaning across tenants (`addresses.ts`: SIP finds a request's owner by them); every `*Ref`
 * names an existing resource of the right kind, of the same tenant or shared with it, and a Number's aorLink
 * an Agent or Peer its tenant may reach (tenants.ts); only Peers, Trunks and AccessControlLists are shared;
 * egress rules compile as regular expressions; ACL entries are addresses or networks.
 *
 * A clash with another tenant's resource never names it or its file: tenants learn nothing of each other from
 * a refusal but that the name is taken.
 *
 * They also run over documents that failed their schema ("partial" entries), reading every field defensively,
 * so one report lists a wrong type and a dangling ref in the same resource; a check whose path already has a
 * schema problem stays quiet rather than say the same thing twice. The first definition of anything wins; each
 * later one is the problem, and its message names the first and where it is.
 */
import { aorKey, normaliseTelUrl, parseNetwork, uriHost } from './addresses.js';
import { describeSource, problemAt, type Problem } from './problems.js';
import { mayReach, mayUse, SHAREABLE_KINDS, sharedWithOf, tenantOf } from './tenants.js';
import { referencesOf, type Entry, type Resource } from './types.js';

export interface CrossCheckOptions {
  /** Entries that failed their schema: checked too, but never trusted to be well-typed. */
  partial?: readonly Entry[];
  /** Problems already reported for the partial entries (their paths silence overlapping checks). */
  reported?: readonly Problem[];
}

export function crossCheck(entries: readonly Entry[], options: CrossCheckOptions = {}): Problem[] {
  const problems: Problem[] = [];
  const all = [...entries, ...(options.partial ?? [])];
  const byRef = new Map<string, Entry>();
  const uniques = new Map<string, Entry>();
  const report = (entry: Entry, path: string, message: string) =>
    problems.push(problemAt(entry.source, { kind: entry.resource.kind, ref: entry.resource.ref, path, message }));
  const unique = (entry: Entry, path: string, key: string | undefined, what: string) => {
    if (key === undefined) return;
    const first = uniques.get(key);
    if (first) report(entry, path, `${what} is already used by ${nameOf(first, entry)}`);
    else uniques.set(key, entry);
  };
  /** Agents and Peers seen so far, by username. */
  const usernames = new Map<string, Entry[]>();

  for (const entry of all) {
    const r = entry.resource;
    const first = byRef.get(r.ref);
    if (first) report(entry, '/ref', `duplicate ref "${r.ref}": already used by ${nameOf(first, entry)}`);
    else byRef.set(r.ref, entry);
    if (sharedWithOf(r).length > 0 && !SHAREABLE_KINDS.includes(r.kind)) {
      report(entry, '/metadata/sharedWith', `a ${r.kind} belongs to one tenant: only ${SHAREABLE_KINDS.join(', ')} can be shared`);
    }

    switch (r.kind) {
      case 'Agent':
      case 'Peer': {
        // An Agent's address is user@its Domain, so two tenants (two Domains) may both have a 1001; a Peer is
        // recognised by its username alone, so it clashes with every Agent and Peer of that name.
        const username = text(r, 'spec', 'username');
        if (username === undefined) break;
        const seen = usernames.get(username) ?? [];
        const clash = seen.find((other) => r.kind === 'Peer' || other.resource.kind === 'Peer' || tenantOf(other.resource) === tenantOf(r));
        if (clash) report(entry, '/spec/username', `username "${username}" is already used by ${nameOf(clash, entry)}`);
        usernames.set(username, [...seen, entry]);
        break;
      }
      case 'Domain': {
        const uri = text(r, 'spec', 'context', 'domainUri');
        unique(entry, '/spec/context/domainUri', uri && `domain:${uri.toLowerCase()}`, `domainUri "${uri}"`);
        list(r, 'spec', 'context', 'egressPolicies').forEach((policy, i) => {
          const rule = text(policy, 'rule');
          if (rule === undefined) return;
          try {
            new RegExp(rule);
          } catch (err) {
            report(entry, `/spec/context/egressPolicies/${i}/rule`, `not a valid regular expression: ${(err as Error).message}`);
          }
        });
        break;
      }
      case 'Number': {
        const telUrl = text(r, 'spec', 'location', 'telUrl');
        const tel = telUrl === undefined ? undefined : normaliseTelUrl(telUrl);
        unique(entry, '/spec/location/telUrl', tel && `tel:${tel}`, `telUrl "${telUrl}" (${tel})`);
        break;
      }
      case 'Trunk': {
        const inbound = text(r, 'spec', 'inbound', 'uri');
        const host = inbound === undefined ? undefined : uriHost(inbound);
        unique(entry, '/spec/inbound/uri', host && `inbound:${host}`, `inbound host "${host}"`);
        break;
      }
      case 'AccessControlList': {
        for (const which of ['allow', 'deny'] as const) {
          list(r, 'spec', 'accessControlList', which).forEach((value, i) => {
            if (typeof value !== 'string') return;
            try {
              parseNetwork(value);
            } catch (err) {
              report(entry, `/spec/accessControlList/${which}/${i}`, (err as Error).message);
            }
          });
        }
        break;
      }
    }
  }

  // A Number's next.backend names a backend group: some Peer must have the aor backend:<backend>.
  const groups = new Set(all.flatMap((e) => (e.resource.kind === 'Peer' ? [text(e.resource, 'spec', 'aor')?.toLowerCase()] : [])));
  for (const entry of all) {
    if (entry.resource.kind !== 'Number') continue;
    const backend = text(entry.resource, 'spec', 'next', 'backend');
    if (backend !== undefined && !groups.has(`backend:${backend.toLowerCase()}`)) {
      report(entry, '/spec/next/backend', `no Peer has the aor backend:${backend.toLowerCase()} (the backend group's balancing settings)`);
    }
  }

  for (const entry of all) {
    for (const reference of referencesOf(entry.resource)) {
      const target = byRef.get(reference.target.ref);
      if (!target) report(entry, reference.path, `${reference.target.kind} "${reference.target.ref}" does not exist`);
      else if (!mayUse(entry.resource, target.resource)) report(entry, reference.path, crossTenant(entry, reference.target.kind, reference.target.ref));
      else if (target.resource.kind !== reference.target.kind) {
        report(entry, reference.path, `"${reference.target.ref}" is a ${target.resource.kind}, but this field needs a ${reference.target.kind}`);
      }
    }
    if (entry.resource.kind === 'Number') checkAorLink(entry, entries, report);
  }
  return withoutRepeats(problems, options.reported ?? []);
}

function tenantName(resource: unknown): string {
  const tenant = tenantOf(resource);
  return tenant === null ? 'the untenanted resources' : `tenant "${tenant}"`;
}

/** A reference to another tenant's resource: said without naming that tenant. */
function crossTenant(entry: Entry, kind: string, ref: string): string {
  const shareable = SHAREABLE_KINDS.some((k) => k === kind);
  return `${kind} "${ref}" is not of ${tenantName(entry.resource)} and not shared with it${shareable ? ' (its owner can list this tenant in metadata.sharedWith)' : ''}`;
}

/**
 * Calls from the PSTN to a Number go to its aorLink: an Agent (user@a Domain's URI) or a Peer (its aor) that the
 * Number's tenant may reach, never another tenant's. An aorLink naming no resource is left alone (Connect then
 * finds no binding for it).
 */
function checkAorLink(entry: Entry, entries: readonly Entry[], report: (entry: Entry, path: string, message: string) => void): void {
  const aorLink = text(entry.resource, 'spec', 'location', 'aorLink');
  if (aorLink === undefined) return;
  const target = aorOwner(entries, aorLink);
  if (target && !mayReach(entry.resource, target.resource)) {
    report(entry, '/spec/location/aorLink', `aorLink "${aorLink}" names ${target.resource.kind === 'Agent' ? 'an' : 'a'} ${target.resource.kind} that is not of ${tenantName(entry.resource)} and not shared with it`);
  }
}

/** The Agent (by user and Domain URI) or Peer (by aor) an address of record names, if any. */
function aorOwner(entries: readonly Entry[], aor: string): Entry | undefined {
  const key = aorKey(aor);
  const sip = /^sip:([^@]*)@(.+)$/.exec(key);
  const domain = sip && entries.find((e) => e.resource.kind === 'Domain' && e.resource.spec.context.domainUri.toLowerCase() === sip[2]);
  const agent = domain && entries.find((e) => e.resource.kind === 'Agent' && e.resource.spec.domainRef === domain.resource.ref && e.resource.spec.username === sip[1]);
  return agent || entries.find((e) => e.resource.kind === 'Peer' && aorKey(e.resource.spec.aor) === key);
}

/**
 * Drop a check's problem when the schema already reported its path, or a value it lies inside (a wrong type
 * there); problems about a missing or unknown property name a parent path and silence nothing below it.
 */
function withoutRepeats(problems: Problem[], reported: readonly Problem[]): Problem[] {
  if (reported.length === 0) return problems;
  const covers = (schema: Problem, check: Problem) =>
    schema.file === check.file &&
    schema.line !== undefined &&
    schema.kind === check.kind &&
    schema.ref === check.ref &&
    schema.path !== undefined &&
    check.path !== undefined &&
    (check.path === schema.path || (check.path.startsWith(`${schema.path}/`) && !/^(missing required|unknown property)/.test(schema.message)));
  return problems.filter((p) => !reported.some((r) => covers(r, p)));
}

/** The resource a clash is with, for the one who made the clash: another tenant's is not named. */
function nameOf(entry: Entry, asking: Entry): string {
  if (tenantOf(entry.resource) !== tenantOf(asking.resource)) return 'a resource of another tenant';
  const where = describeSource(entry.source);
  return `${entry.resource.kind} ${entry.resource.ref}${where ? ` (${where})` : ''}`;
}

function at(root: unknown, path: string[]): unknown {
  let value = root;
  for (const part of path) {
    if (value === null || typeof value !== 'object' || Array.isArray(value) || !Object.hasOwn(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function text(root: Resource | unknown, ...path: string[]): string | undefined {
  const value = at(root, path);
  return typeof value === 'string' ? value : undefined;
}

function list(root: Resource | unknown, ...path: string[]): unknown[] {
  const value = at(root, path);
  return Array.isArray(value) ? value : [];
}
