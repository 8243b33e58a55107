/**
 * Target health: what the OPTIONS probes (core/trunks/probes.ts) found about each Trunk outbound URI and each
 * Peer binding, shared by every node through the `routr_v1_health` bucket (a KvMirror: synchronous reads for the
 * Connect processor, which skips targets marked down in failover and balancing). The prober of a target — the
 * node holding its lease — writes it; everyone reads it.
 *
 * A target nobody probes, or whose probe has not concluded yet, is up: probing only ever removes targets that
 * stopped answering.
 */
import { createHash } from '../runtime/crypto.js';
import { bucketName } from '../bus/subjects.js';
import type { Bus } from '../bus/types.js';
import { KvMirror } from '../bus/kv-mirror.js';
import type { CapabilityProvider } from '../capabilities/index.js';
import type { Logger } from '../log.js';
import type { JsonValue } from '../../sandbox/types.js';
import { normaliseAor } from './store.js';

export const HEALTH_BUCKET = bucketName('health');

/** A Trunk outbound URI, or a Peer's registered contact. */
export type HealthTarget = { trunk: string; host: string; port?: number; transport?: string } | { aor: string; contact: string };

export interface TargetHealth {
  kind: 'trunk' | 'peer';
  /** `trunk-01 127.0.0.1:5070;transport=udp`, or `backend:voice sip:voice@10.0.0.5:5060`. */
  target: string;
  up: boolean;
  /** Epoch ms of the last change of `up`. */
  since: number;
  /** Probes in a row that failed, or that succeeded. */
  failures: number;
  successes: number;
  /** The last answer's status, null for a timeout or transport failure. */
  lastStatus: number | null;
  lastError: string | null;
  checkedAt: number;
  owner: string;
}

/** The canonical name of a target (what TargetHealth.target holds). */
export function targetName(target: HealthTarget): string {
  if ('trunk' in target) {
    const host = target.host.includes(':') && !target.host.startsWith('[') ? `[${target.host}]` : target.host;
    return `${target.trunk} ${host.toLowerCase()}${target.port ? `:${target.port}` : ''};transport=${(target.transport ?? 'udp').toLowerCase()}`;
  }
  return `${normaliseAor(target.aor)} ${target.contact}`;
}

export function healthKey(name: string): string {
  return `h.${createHash('sha256').update(name).digest('base64url').slice(0, 32)}`;
}

export class HealthBoard {
  #kv: KvMirror;
  readonly #byName = new Map<string, TargetHealth>();

  private constructor(kv: KvMirror) {
    this.#kv = kv;
  }

  static async open(bus: Bus, logger: Logger): Promise<HealthBoard> {
    const board = new HealthBoard(KvMirror.scratch());
    try {
      board.#kv = await KvMirror.open(bus, logger, { bucket: HEALTH_BUCKET, onChange: (key, value) => board.#changed(key, value) });
    } catch (err) {
      logger.warn({ reason: (err as Error).message }, 'probe results are per node: the bus has no KV (on NATS, start nats-server with -js)');
      board.#kv = KvMirror.scratch({ onChange: (key, value) => board.#changed(key, value) });
    }
    return board;
  }

  /** In memory only (fixtures, `routr plugin test`, tests). */
  static scratch(): HealthBoard {
    const board = new HealthBoard(KvMirror.scratch());
    board.#kv = KvMirror.scratch({ onChange: (key, value) => board.#changed(key, value) });
    return board;
  }

  isDown(target: HealthTarget): boolean {
    return this.#byName.get(targetName(target))?.up === false;
  }

  get(name: string): TargetHealth | undefined {
    return this.#byName.get(name);
  }

  list(): TargetHealth[] {
    return [...this.#byName.values()].sort((a, b) => a.target.localeCompare(b.target));
  }

  write(health: TargetHealth): void {
    this.#kv.set(healthKey(health.target), health as unknown as JsonValue, JSON.stringify(health));
  }

  forget(name: string): void {
    this.#kv.delete(healthKey(name));
  }

  async close(): Promise<void> {
    await this.#kv.close();
  }

  #changed(_key: string, value: JsonValue | undefined): void {
    if (value === undefined) {
      // The key is a hash of the name: find the entry it held.
      for (const [name] of this.#byName) if (healthKey(name) === _key) this.#byName.delete(name);
      return;
    }
    const health = value as unknown as TargetHealth;
    if (typeof health?.target === 'string') this.#byName.set(health.target, health);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** `health`: routr.health.isDown({trunk, host, port, transport} | {aor, contact}) — what the probes found. */
export function healthCapability(board: HealthBoard): CapabilityProvider {
  return {
    name: 'health',
    description: 'routr.health.isDown({trunk, host, port?, transport?} | {aor, contact}) — true when OPTIONS probes marked the target down',
    build() {
      return {
        'health.isDown': {
          fn: (target) => {
            if (!isObject(target)) throw new TypeError('health.isDown(target): target is {trunk, host, port?, transport?} or {aor, contact}');
            if (typeof target.trunk === 'string' && typeof target.host === 'string') {
              return board.isDown({ trunk: target.trunk, host: target.host, port: typeof target.port === 'number' ? target.port : undefined, transport: typeof target.transport === 'string' ? target.transport : undefined });
            }
            if (typeof target.aor === 'string' && typeof target.contact === 'string') return board.isDown({ aor: target.aor, contact: target.contact });
            throw new TypeError('health.isDown(target): target is {trunk, host, port?, transport?} or {aor, contact}');
          },
        },
      };
    },
  };
}
