/**
 * The bus contract against NatsBus on a real nats-server (JetStream on) that this file starts on a free port
 * and stops at the end; plus the wire details other NATS clients rely on (the Routr-Error header) and the
 * error when JetStream is off.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { BusError, createBus, type Bus } from '../../core/bus/index.js';
import { HANDLER_ERROR_HEADER, NatsBus } from '../../core/bus/nats.js';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { busContract } from './bus.case.js';
import { bytes, text, unique } from './support.js';

let server: Promise<NatsServerHandle> | undefined;
const natsServer = (): Promise<NatsServerHandle> => (server ??= startNatsServer({ jetstream: true }));
after(async () => {
  await (await server)?.stop();
});

const open = async (name: string): Promise<Bus> => NatsBus.connect((await natsServer()).url, { name });

busContract('nats', async () => {
  const buses: Bus[] = [await open('contract')];
  return {
    bus: buses[0],
    second: async () => {
      const bus = await open('contract-second');
      buses.push(bus);
      return bus;
    },
    cleanup: async () => {
      await Promise.all(buses.map((bus) => bus.close()));
    },
  };
});

describe('nats bus', () => {
  it('handler errors - travel as a Routr-Error header with the reason as body', async () => {
    const { url } = await natsServer();
    const bus = await NatsBus.connect(url, { name: 'wire' });
    const raw = await connect({ servers: url });
    try {
      const subject = unique('wire');
      bus.serve(subject, () => {
        throw new Error('bad\r\nrequest');
      });
      await bus.flush();
      const reply = await raw.request(subject, bytes('x'), { timeout: 2000 });
      assert.equal(reply.headers?.get(HANDLER_ERROR_HEADER), 'bad request');
      assert.equal(text(reply.data), 'bad\r\nrequest');
    } finally {
      await raw.close();
      await bus.close();
    }
  });

  it('createBus - a url gives a NatsBus; an unreachable url fails at startup', async () => {
    const bus = await createBus({ url: (await natsServer()).url, name: 'factory' });
    assert.equal(bus.kind, 'nats');
    await bus.close();
    await assert.rejects(createBus({ url: 'nats://127.0.0.1:1', name: 'nowhere' }), BusError);
  });

  it('kv - without JetStream on the server, kv() rejects with a BusError naming JetStream', async () => {
    const plain = await startNatsServer();
    const bus = await NatsBus.connect(plain.url, { name: 'no-js' });
    try {
      await assert.rejects(bus.kv('routr_v1_x'), (err: unknown) => {
        assert.ok(err instanceof BusError);
        assert.match(err.message, /JetStream is not enabled/);
        return true;
      });
    } finally {
      await bus.close();
      await plain.stop();
    }
  });
});
