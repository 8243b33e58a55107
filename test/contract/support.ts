/**
 * Shared pieces of the bus contract cases: what a case gets (`BusUnderTest`), byte helpers, unique names.
 */
import type { Bus } from '../../core/bus/index.js';

export interface BusUnderTest {
  bus: Bus;
  /** Another bus on the same server (NATS: a second connection; memory: the same hub). */
  second?: () => Promise<Bus>;
  cleanup(): Promise<void>;
}

export type MakeBus = () => Promise<BusUnderTest>;

export const bytes = (value: string): Uint8Array => new TextEncoder().encode(value);
export const text = (value: Uint8Array): string => new TextDecoder().decode(value);

let counter = 0;
/** A subject token / bucket fragment no other case uses, even across concurrent test files on one server. */
export const unique = (label: string): string => `${label}-${process.pid}-${++counter}`;

export async function withBus(makeBus: MakeBus, run: (under: BusUnderTest) => Promise<void>): Promise<void> {
  const under = await makeBus();
  try {
    await run(under);
  } finally {
    await under.cleanup();
  }
}
