/**
 * The codec and framing fuzz target (test/fuzz/codec-target.ts) for a few thousand fast-check inputs, seeded
 * from RFC 4475, RFC 5118 and real call flows: a brief run on every `npm test`; `npm run fuzz` runs it for a
 * million. The seed is fixed so a failure reproduces (FUZZ_SEED overrides it).
 */
import { test } from 'node:test';
import fc from 'fast-check';
import { datagramProperty, SEEDS, streamProperty } from '../fuzz/codec-target.js';

const seed = Number(process.env.FUZZ_SEED ?? 20260511);

test(`sip fuzz - ${SEEDS.length} seeds: parse never throws, what it accepts round-trips, what it refuses can be answered (5,000 inputs)`, () => {
  fc.assert(datagramProperty, { numRuns: 5000, seed });
});

test('sip fuzz - framing: never throws, never emits more than it was given, the same messages however a stream is cut (2,000 inputs)', () => {
  fc.assert(streamProperty, { numRuns: 2000, seed });
});
