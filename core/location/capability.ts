/**
 * `location.read`, `location.write` and `balancer`: the location service as plugins see it
 * (`routr.location.find|register|unregister`, `routr.balancer.pick|release`). Fixture runs get a scratch
 * store, so a fixture never registers anything for real.
 */
import type { CapabilityContext, CapabilityProvider } from '../capabilities/index.js';
import type { BindingInput } from '../sdk/index.js';
import type { JsonValue } from '../../sandbox/types.js';
import { LocationStore } from './store.js';

const TRANSPORTS = new Set(['udp', 'tcp', 'tls', 'ws', 'wss']);

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * The store a plugin build gets: the live one, or for a fixture run a scratch store shared by that build's
 * location.read, location.write and balancer (the registry hands every provider the same context object), so a
 * fixture reads its own writes and no two builds share scratch state.
 */
const scratchStores = new WeakMap<CapabilityContext, LocationStore>();
function storeFor(store: LocationStore, context: CapabilityContext): LocationStore {
  if (context.mode !== 'fixtures') return store;
  let scratch = scratchStores.get(context);
  if (!scratch) scratchStores.set(context, (scratch = LocationStore.scratch()));
  return scratch;
}

function address(value: unknown, what: string): { host: string; port: number; transport: 'udp' | 'tcp' | 'tls' | 'ws' | 'wss' } {
  if (!isObject(value) || typeof value.host !== 'string' || !Number.isInteger(value.port) || !TRANSPORTS.has(String(value.transport))) {
    throw new TypeError(`location.register: ${what} must be {host, port, transport} (pass request.${what})`);
  }
  return { host: value.host, port: value.port as number, transport: value.transport as 'udp' };
}

function bindingInput(value: unknown): BindingInput {
  if (!isObject(value)) throw new TypeError('location.register(binding): binding must be an object');
  const { aor, contact, expires, edgeRef, callId, cseq } = value;
  if (typeof aor !== 'string' || aor === '') throw new TypeError('location.register: aor must be a non-empty string');
  if (typeof contact !== 'string' || contact === '') throw new TypeError('location.register: contact must be a non-empty string');
  if (typeof expires !== 'number' || !Number.isFinite(expires) || expires < 0) throw new TypeError('location.register: expires must be a number of seconds ≥ 0');
  if (typeof edgeRef !== 'string' || typeof callId !== 'string' || !Number.isInteger(cseq)) throw new TypeError('location.register: edgeRef, callId (strings) and cseq (integer) are required');
  const input: BindingInput = { aor, contact, expires, sender: address(value.sender, 'sender'), receivedOn: address(value.receivedOn, 'receivedOn'), edgeRef, callId, cseq: cseq as number };
  if (typeof value.q === 'number') input.q = value.q;
  if (typeof value.instance === 'string') input.instance = value.instance;
  if (typeof value.nat === 'boolean') input.nat = value.nat;
  if (typeof value.registrant === 'string') input.registrant = value.registrant;
  return input;
}

export function locationReadCapability(store: LocationStore): CapabilityProvider {
  return {
    name: 'location.read',
    description: 'routr.location.find(aor) — live bindings, newest first',
    build(context) {
      const target = storeFor(store, context);
      return {
        'location.find': {
          fn: (aor) => {
            if (typeof aor !== 'string') throw new TypeError('location.find(aor): aor must be a string');
            return target.find(aor) as unknown as JsonValue;
          },
        },
      };
    },
  };
}

export function locationWriteCapability(store: LocationStore): CapabilityProvider {
  return {
    name: 'location.write',
    description: 'routr.location.register(binding) | unregister(aor, contact?) — registrar bindings',
    build(context) {
      const target = storeFor(store, context);
      return {
        'location.register': { fn: (binding) => target.register(bindingInput(binding)) as unknown as JsonValue },
        'location.unregister': {
          fn: (aor, contact) => {
            if (typeof aor !== 'string') throw new TypeError('location.unregister(aor, contact?): aor must be a string');
            return target.unregister(aor, typeof contact === 'string' ? contact : undefined);
          },
        },
      };
    },
  };
}

export function balancerCapability(store: LocationStore): CapabilityProvider {
  return {
    name: 'balancer',
    description: 'routr.balancer.pick({group, algorithm, candidates, affinity?}) | release(affinity) — round-robin or least-sessions with call affinity, shared across hosts',
    build(context) {
      const target = storeFor(store, context);
      return {
        'balancer.pick': {
          fn: (options) => {
            if (!isObject(options) || typeof options.group !== 'string' || !Array.isArray(options.candidates) || !options.candidates.every((c) => typeof c === 'string')) {
              throw new TypeError('balancer.pick({group, algorithm, candidates, affinity?}): group is a string, candidates a list of strings');
            }
            const algorithm = options.algorithm === 'least-sessions' ? 'least-sessions' : 'round-robin';
            const affinity = typeof options.affinity === 'string' && options.affinity !== '' ? options.affinity : null;
            return target.pick({ group: options.group, algorithm, candidates: options.candidates as string[], affinity });
          },
        },
        'balancer.release': {
          fn: (affinity) => (typeof affinity === 'string' && affinity !== '' ? target.release(affinity) : false),
        },
      };
    },
  };
}
