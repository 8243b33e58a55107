/**
 * `resources.read`: what plugins see of the resources. `routr.resources.get(kind, ref)`,
 * `routr.resources.find(kind, filter)` and `routr.resources.list(kind)` answer synchronously from the store's
 * current snapshot (plugins run on the host thread, so there is no I/O to wait for). Each sandbox keeps what it
 * read, frozen, keyed by the set's generation (Capability.cache): a repeated lookup costs no crossing, and the
 * first call into the sandbox after a reload drops what it kept, so a reload is visible to the next request.
 *
 * Credentials come back without `password`: secrets never enter a sandbox. Digest verification will be a
 * host-side capability of its own.
 */
import type { CapabilityProvider } from '../capabilities/index.js';
import type { JsonValue } from '../../sandbox/types.js';
import { redact, type ResourceFilter } from './set.js';
import type { ResourceStore } from './store.js';
import { isKind, KINDS, type Kind, type Resource } from './types.js';

export function resourcesCapability(store: Pick<ResourceStore, 'current'>): CapabilityProvider {
  return {
    name: 'resources.read',
    description: 'routr.resources.get(kind, ref) | find(kind, filter) | list(kind) — the current resources; Credentials without password',
    build() {
      // Sandboxes keep what they read for as long as the set is the same one (one swap per reload).
      const cache = { version: () => store.current().generation };
      return {
        'resources.get': {
          cache,
          fn: (kind, ref) => {
            if (typeof ref !== 'string') throw new TypeError('resources.get(kind, ref): ref must be a string');
            return out(store.current().get(kindOf(kind, 'get'), ref) ?? null);
          },
        },
        'resources.find': {
          cache,
          fn: (kind, filter) => {
            if (filter === null || typeof filter !== 'object' || Array.isArray(filter)) throw new TypeError('resources.find(kind, filter): filter must be an object such as { username: "1001" }');
            const k = kindOf(kind, 'find');
            const secret = Object.keys(filter).find((field) => isSecretField(k, field));
            // A filter on a secret is an oracle for it (guess, see whether anything matches): not searchable.
            if (secret !== undefined) throw new TypeError(`resources.find: ${k} field "${secret}" is secret and cannot be searched`);
            return store.current().find(k, filter as ResourceFilter).map(out);
          },
        },
        'resources.list': { cache, fn: (kind) => store.current().list(kindOf(kind, 'list')).map(out) },
      };
    },
  };
}

function kindOf(kind: JsonValue, fn: string): Kind {
  if (!isKind(kind)) throw new TypeError(`resources.${fn}: unknown kind ${JSON.stringify(kind)} (known: ${KINDS.join(', ')})`);
  return kind;
}

function out(resource: Resource | null): JsonValue {
  return resource && (redact(resource) as unknown as JsonValue);
}

/** Where a Credentials' password lives (and where older shapes kept it). */
const SECRET_PATHS = ['credentials.password', 'password'];

/**
 * Fields that never leave the host, so may not be filtered on either: the password, anything below it, and any
 * object that holds it (`credentials` compared whole would be as good an oracle).
 */
function isSecretField(kind: Kind, field: string): boolean {
  if (kind !== 'Credentials') return false;
  return SECRET_PATHS.some((secret) => field === secret || secret.startsWith(`${field}.`) || field.startsWith(`${secret}.`));
}
