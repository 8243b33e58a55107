/**
 * The console's live figures: calls per second (cluster-wide, from call.started events), calls in progress,
 * this node's active transactions and its decision times p50/p99 over the last sample interval (from the
 * decision-duration histogram: bucket counts then minus bucket counts now, interpolated within the bucket).
 */
import type { Metrics } from '../metrics.js';
import type { CallBoard } from './board.js';

export interface Figures {
  time: string;
  callsPerSecond: number;
  activeCalls: number;
  /** Server and client transactions held by this node's edge. */
  activeTransactions: number;
  /** Over the decisions since the previous sample; null when there were none. */
  decisionP50Ms: number | null;
  decisionP99Ms: number | null;
  decisions: number;
}

type Buckets = Array<[le: number, count: number]>;

export class FigureSampler {
  readonly #metrics: Metrics;
  readonly #board: CallBoard | undefined;
  #previous: Buckets = [];
  #last: Figures | undefined;
  #lastAt = 0;

  constructor(metrics: Metrics, board: CallBoard | undefined) {
    this.#metrics = metrics;
    this.#board = board;
  }

  /** A sample; at most one new one a second (callers polling faster get the last one). */
  async sample(): Promise<Figures> {
    if (this.#last && Date.now() - this.#lastAt < 1000) return this.#last;
    const now = await this.#buckets();
    const window = now.map(([le, count], i) => [le, count - (this.#previous[i]?.[1] ?? 0)] as [number, number]);
    this.#previous = now;
    const total = window.length ? window[window.length - 1][1] : 0;
    const transactions = (await this.#metrics.transactions.get()).values.reduce((n, v) => n + v.value, 0);
    this.#last = {
      time: new Date().toISOString(),
      callsPerSecond: Math.round((this.#board?.callsPerSecond ?? 0) * 10) / 10,
      activeCalls: this.#board?.active.size ?? 0,
      activeTransactions: transactions,
      decisionP50Ms: quantile(window, 0.5),
      decisionP99Ms: quantile(window, 0.99),
      decisions: total,
    };
    this.#lastAt = Date.now();
    return this.#last;
  }

  /** Cumulative bucket counts, every outcome together, by upper bound (seconds), +Inf last. */
  async #buckets(): Promise<Buckets> {
    const byLe = new Map<number, number>();
    for (const v of (await this.#metrics.decisionSeconds.get()).values) {
      if (!v.metricName?.endsWith('_bucket')) continue;
      const bound = (v.labels as Record<string, string | number | undefined>).le;
      const le = bound === '+Inf' ? Infinity : Number(bound);
      byLe.set(le, (byLe.get(le) ?? 0) + v.value);
    }
    return [...byLe].sort((a, b) => a[0] - b[0]);
  }
}

/** The q-quantile in milliseconds from cumulative buckets, interpolated linearly inside the bucket. */
export function quantile(buckets: Buckets, q: number): number | null {
  const total = buckets.length ? buckets[buckets.length - 1][1] : 0;
  if (total <= 0) return null;
  const rank = q * total;
  let lowerLe = 0;
  let lowerCount = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (!Number.isFinite(le)) return Math.round(lowerLe * 1000 * 1000) / 1000;
      const inside = count - lowerCount;
      const fraction = inside > 0 ? (rank - lowerCount) / inside : 1;
      return Math.round((lowerLe + (le - lowerLe) * fraction) * 1000 * 1000) / 1000;
    }
    lowerLe = le;
    lowerCount = count;
  }
  return null;
}
