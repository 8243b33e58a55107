/**
 * The checks a schema cannot make because they need the whole set: refs unique across every kind; Agent and
 * Peer usernames unique together (both authenticate by username), Domain URIs, Number tel: URLs and Trunk
 * inbound hosts unique by meaning (`addresses.ts`); every `*Ref` names an existing resource of the right kind;
 * egress rules compile as regular expressions; ACL entries are addresses or networks.
 *
 * They also run over documents that failed their schema ("partial" entries), reading every field defensively,
 * so one report lists a wrong type and a dangling ref in the same resource; a check whose path already has a
 * schema problem stays quiet rather than say the same thing twice. The first definition of anything wins; each
 * later one is the problem, and its message names the first and where it is.
 */
import { normaliseTelUrl, parseNetwork, uriHost } from './addresses.js';
import { describeSource, problemAt, type Problem } from './problems.js';
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
    if (first) report(entry, path, `${what} is already used by ${nameOf(first)}`);
    else uniques.set(key, entry);
  };

  for (const entry of all) {
    const r = entry.resource;
    const first = byRef.get(r.ref);
    if (first) report(entry, '/ref', `duplicate ref "${r.ref}": already used by ${nameOf(first)}`);
    else byRef.set(r.ref, entry);

    switch (r.kind) {
      case 'Agent':
      case 'Peer': {
        const username = text(r, 'spec', 'username');
        unique(entry, '/spec/username', username && `username:${username}`, `username "${username}"`);
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

  for (const entry of all) {
    for (const reference of referencesOf(entry.resource)) {
      const target = byRef.get(reference.target.ref);
      if (!target) report(entry, reference.path, `${reference.target.kind} "${reference.target.ref}" does not exist`);
      else if (target.resource.kind !== reference.target.kind) {
        report(entry, reference.path, `"${reference.target.ref}" is a ${target.resource.kind}, but this field needs a ${reference.target.kind}`);
      }
    }
  }
  return withoutRepeats(problems, options.reported ?? []);
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

function nameOf(entry: Entry): string {
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
