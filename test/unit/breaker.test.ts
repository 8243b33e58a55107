import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CircuitBreaker, type BreakerState } from '../../core/host/breaker.js';
import { sleep } from '../helpers/wait.js';

function breaker(failures = 3, coolDownMs = 30) {
  const changes: BreakerState[] = [];
  const b = new CircuitBreaker({ failures, coolDownMs, onChange: (s) => changes.push(s) });
  return { b, changes };
}

test('breaker - opens after N consecutive failures, not after N interleaved with successes', () => {
  const { b, changes } = breaker();
  b.failure();
  b.failure();
  b.success();
  b.failure();
  b.failure();
  assert.equal(b.state, 'closed');
  b.failure();
  assert.equal(b.state, 'open');
  assert.equal(b.allows, false);
  assert.deepEqual(changes, ['open']);
  b.dispose();
});

test('breaker - after the cool-down one trial request goes; its success closes the circuit', async () => {
  const { b, changes } = breaker(1);
  b.failure();
  await sleep(50);
  assert.equal(b.state, 'half-open');
  assert.equal(b.allows, true);
  b.admit();
  assert.equal(b.allows, false, 'no second request while the trial runs');
  b.success();
  assert.equal(b.state, 'closed');
  assert.deepEqual(changes, ['open', 'half-open', 'half-open', 'closed']);
});

test('breaker - a failed trial opens it again for another cool-down', async () => {
  const { b } = breaker(1);
  b.failure();
  await sleep(50);
  b.admit();
  b.failure();
  assert.equal(b.state, 'open');
  await sleep(50);
  assert.equal(b.state, 'half-open');
  b.dispose();
});

test('breaker - reset closes at once and forgets the count', () => {
  const { b } = breaker(2, 60_000);
  b.failure();
  b.failure();
  assert.equal(b.state, 'open');
  b.reset();
  assert.equal(b.state, 'closed');
  b.failure();
  assert.equal(b.state, 'closed', 'the count started again');
  b.dispose();
});
