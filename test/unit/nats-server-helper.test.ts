/**
 * The nats-server test helper fails with an actionable message when the binary is missing, rather than a
 * spawn ENOENT deep inside a suite.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { NATS_SERVER_MISSING, startNatsServer } from '../helpers/nats-server.js';

it('nats-server helper - a missing binary gives the install hint', async () => {
  const saved = process.env.NATS_SERVER;
  process.env.NATS_SERVER = '/nonexistent/nats-server';
  try {
    await assert.rejects(startNatsServer(), { message: NATS_SERVER_MISSING });
    assert.equal(NATS_SERVER_MISSING, 'nats-server not found: install it (apt-get install -y nats-server) or put it on PATH');
  } finally {
    if (saved === undefined) delete process.env.NATS_SERVER;
    else process.env.NATS_SERVER = saved;
  }
});
