/**
 * The board: what the console and `routr status` show of the cluster, kept from the events on the bus — calls
 * in progress and the most recent ended ones, each trunk's last registration state, each host's entries' plugin
 * state, and the rate of new calls. Bounded everywhere (calls in progress, recent calls, start times), so a
 * flood of events costs memory of a known size. Live listeners (the console's event stream) hear every event.
 */
import type { Bus, Subscription } from '../bus/types.js';
import { subscribeEvents, type RoutrEvent } from '../events/index.js';

/** One call, however many edges it crossed (each reports it: A → EP1 → EP2 → B is two call.started). */
export interface BoardCall {
  callId: string;
  /** The edges that reported it, the one it came in through first. */
  edges: string[];
  host: string | null;
  aor: string | null;
  routingType: string | null;
  /** The caller's tenant, as the call's events name it. */
  tenant: string | null;
  processor: string | null;
  from: string | null;
  to: string | null;
  startedAt: number;
  answeredAt: number | null;
  endedAt: number | null;
  cause: string | null;
  status: number | null;
}

const MAX_ACTIVE = 10_000;
const MAX_RECENT = 200;
const RATE_WINDOW_MS = 10_000;
const MAX_LOG = 30;

export class CallBoard {
  readonly active = new Map<string, BoardCall>();
  readonly recent: BoardCall[] = [];
  /** trunk ref → its last trunk.registration event. */
  readonly trunks = new Map<string, RoutrEvent<'trunk.registration'>>();
  /** `<host>/<processor>` → the entry's last plugin.state event. */
  readonly plugins = new Map<string, RoutrEvent<'plugin.state'>>();
  /** The latest events, newest first (the console's event log when it opens). */
  readonly log: RoutrEvent[] = [];
  readonly #starts: number[] = [];
  /** callId → the edges that started it and have not ended it yet. */
  readonly #open = new Map<string, Set<string>>();
  readonly #listeners = new Set<(event: RoutrEvent) => void>();
  #subscriptions: Subscription[] = [];

  static async open(bus: Bus): Promise<CallBoard> {
    const board = new CallBoard();
    board.#subscriptions = subscribeEvents(bus, (event) => board.add(event));
    await bus.flush();
    return board;
  }

  /** New calls per second over the last 10 s. */
  get callsPerSecond(): number {
    const since = Date.now() - RATE_WINDOW_MS;
    while (this.#starts.length && this.#starts[0] < since) this.#starts.shift();
    return this.#starts.length / (RATE_WINDOW_MS / 1000);
  }

  listen(listener: (event: RoutrEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  add(event: RoutrEvent): void {
    const at = Date.parse(event.time) || Date.now();
    this.log.unshift(event);
    if (this.log.length > MAX_LOG) this.log.length = MAX_LOG;
    switch (event.type) {
      case 'call.started': {
        this.#starts.push(at);
        if (this.#starts.length > 100_000) this.#starts.splice(0, this.#starts.length - 100_000);
        if (!event.callId) break;
        const known = this.active.get(event.callId);
        if (known) {
          if (event.edge && !known.edges.includes(event.edge)) known.edges.push(event.edge);
          this.#open.get(event.callId)?.add(event.edge ?? '');
          break;
        }
        if (this.active.size >= MAX_ACTIVE) {
          const oldest = this.active.keys().next().value as string;
          this.active.delete(oldest);
          this.#open.delete(oldest);
        }
        this.active.set(event.callId, {
          callId: event.callId, edges: event.edge ? [event.edge] : [], host: event.host, aor: event.aor, routingType: event.routingType, tenant: event.tenant ?? null, processor: event.processor,
          from: event.from, to: event.to, startedAt: at, answeredAt: null, endedAt: null, cause: null, status: null,
        });
        this.#open.set(event.callId, new Set([event.edge ?? '']));
        break;
      }
      case 'call.answered': {
        const call = event.callId ? this.active.get(event.callId) : undefined;
        if (call && call.answeredAt === null) {
          call.answeredAt = at;
          call.status = event.status;
        }
        break;
      }
      case 'call.ended': {
        if (!event.callId) break;
        const call = this.active.get(event.callId) ?? this.#unseen(event, at);
        // The first edge to report the end says how it ended; the call is over when every edge that saw it says so.
        if (call.endedAt === null) {
          call.endedAt = at;
          call.cause = event.cause;
          call.status = event.status;
        }
        const open = this.#open.get(event.callId);
        open?.delete(event.edge ?? '');
        if (open && open.size > 0) break;
        this.active.delete(event.callId);
        this.#open.delete(event.callId);
        this.recent.unshift(call);
        if (this.recent.length > MAX_RECENT) this.recent.length = MAX_RECENT;
        break;
      }
      case 'trunk.registration':
        this.trunks.set(event.trunk, event);
        break;
      case 'plugin.state':
        this.plugins.set(`${event.host ?? '-'}/${event.processor}`, event);
        break;
      default:
        break;
    }
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // a listener's trouble is its own (a closed stream)
      }
    }
  }

  /** A call whose start this board did not see (it started before the board opened). */
  #unseen(event: RoutrEvent<'call.ended'>, at: number): BoardCall {
    return {
      callId: event.callId as string, edges: event.edge ? [event.edge] : [], host: event.host, aor: event.aor, routingType: event.routingType, tenant: event.tenant ?? null, processor: event.processor,
      from: null, to: null, startedAt: at - event.durationMs, answeredAt: event.talkMs === null ? null : at - event.talkMs, endedAt: null, cause: null, status: null,
    };
  }

  async close(): Promise<void> {
    this.#listeners.clear();
    await Promise.all(this.#subscriptions.map((s) => s.drain().catch(() => {})));
    this.#subscriptions = [];
  }
}
