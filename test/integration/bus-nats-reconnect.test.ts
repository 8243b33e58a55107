/**
 * A connected NatsBus survives its server restarting: status goes disconnected/reconnecting → connected, and
 * the same bus (same subscriptions, no re-serve) answers requests again. And close() always finishes: whether
 * the server is gone, or hung and never acknowledging the drain (bounded by drainTimeoutMs).
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

  it('reconnect - KV and a KV watch keep working across a JetStream server restart', async () => {
    const js = await startNatsServer({ jetstream: true });
    const bus = await NatsBus.connect(js.url, { name: 'kv-reconnect', reconnectTimeWaitMs: 50 });
    try {
      const kv = await bus.kv('routr_v1_reconnect');
      const seen: string[] = [];
      await kv.watch((event) => seen.push(event.key));
      await kv.put('before', bytes('1'));
      await waitFor(() => seen.includes('before'), { what: 'the first watch event' });
      await js.restart();
      await waitFor(() => bus.status() === 'connected', { timeoutMs: 10_000, what: 'reconnect' });
      // JetStream needs a moment after restart; keep writing until the watch hears one of the writes.
      let attempt = 0;
      await waitFor(
        async () => {
          await kv.put(`after.${attempt++}`, bytes('2')).catch(() => undefined);
          return seen.some((key) => key.startsWith('after.'));
        },
        { timeoutMs: 10_000, intervalMs: 100, what: 'a watch event after restart' },
      );
      assert.equal(text((await kv.get('before'))!.value), '1');
    } finally {
      await bus.close();
      await js.stop();
    }
  });

  it('close - with the server gone for good, close still finishes promptly', async () => {
    const doomed = await startNatsServer();
    const bus = await NatsBus.connect(doomed.url, { name: 'orphan', reconnectTimeWaitMs: 50 });
    bus.serve('routr.v1.test.orphan', (payload) => payload);
    await bus.flush();
    await doomed.stop();
    await waitFor(() => bus.status() !== 'connected', { what: 'the disconnect' });
    const started = Date.now();
    await bus.close();
    assert.equal(bus.status(), 'closed');
    assert.ok(Date.now() - started < 2000, `close took ${Date.now() - started} ms`);
  });

  it('close - a hung server (connected, silent) holds close no longer than drainTimeoutMs', async () => {
    const hung = await startNatsServer();
    try {
      const bus = await NatsBus.connect(hung.url, { name: 'hung', drainTimeoutMs: 200 });
      bus.serve('routr.v1.test.hung', (payload) => payload);
      await bus.flush();
      await hung.pause();
      const started = Date.now();
      await bus.close();
      const took = Date.now() - started;
      assert.equal(bus.status(), 'closed');
      // Two bounded waits at most: the subscription's drain, then the connection's.
      assert.ok(took >= 150 && took < 1500, `close took ${took} ms`);
    } finally {
      hung.resume();
      await hung.stop();
    }
  });
});
