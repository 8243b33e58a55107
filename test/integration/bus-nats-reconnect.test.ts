/**
 * A connected NatsBus survives its server restarting: status goes disconnected/reconnecting → connected, and
 * the same bus (same subscriptions, no re-serve) answers requests again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { BusStatus } from '../../core/bus/index.js';
import { NatsBus } from '../../core/bus/nats.js';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { waitFor } from '../helpers/wait.js';

const bytes = (value: string): Uint8Array => new TextEncoder().encode(value);
const text = (value: Uint8Array): string => new TextDecoder().decode(value);

describe('bus over NATS - reconnect', () => {
  let server: NatsServerHandle;
  before(async () => {
    server = await startNatsServer();
  });
  after(async () => {
    await server.stop();
  });

  it('reconnect - a server restart goes reconnecting → connected and request/reply works again', async () => {
    const bus = await NatsBus.connect(server.url, { name: 'reconnect', reconnectTimeWaitMs: 50 });
    try {
      const statuses: BusStatus[] = [];
      bus.onStatus((status) => statuses.push(status));
      bus.serve('routr.v1.test.echo', (payload) => payload, { queue: 'hosts' });
      await bus.flush();
      assert.equal(text(await bus.request('routr.v1.test.echo', bytes('before'), { timeoutMs: 1000 })), 'before');

      await server.restart();
      await waitFor(() => bus.status() === 'connected' && statuses.includes('reconnecting'), {
        timeoutMs: 10_000,
        what: 'reconnect',
      });
      const reconnecting = statuses.indexOf('reconnecting');
      assert.ok(reconnecting >= 0 && statuses.indexOf('connected', reconnecting) > reconnecting, statuses.join(' → '));

      // Subscriptions are replayed on reconnect; allow the first requests a moment to find them.
      let reply = '';
      await waitFor(
        async () => {
          reply = await bus
            .request('routr.v1.test.echo', bytes('after'), { timeoutMs: 500 })
            .then(text, () => '');
          return reply === 'after';
        },
        { timeoutMs: 5000, what: 'a reply after reconnect' },
      );
      assert.equal(bus.status(), 'connected');
    } finally {
      await bus.close();
    }
  });
});
