/**
 * The ResourceStore contract and the KV provider's own cases against a real nats-server with JetStream (two
 * connections stand for two nodes), started by this file on a free port.
 */
import { after, describe } from 'node:test';
import { bucketName, type Bus } from '../../core/bus/index.js';
import { NatsBus } from '../../core/bus/nats.js';
import { silentLogger } from '../../core/log.js';
import { KvResourceStore } from '../../core/resources/index.js';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { kvProviderCases } from './resources-kv.case.js';
import { resourceStoreContract } from './resources-store.case.js';
import { unique } from './support.js';

let server: Promise<NatsServerHandle> | undefined;
const natsServer = (): Promise<NatsServerHandle> => (server ??= startNatsServer({ jetstream: true }));
after(async () => {
  await (await server)?.stop();
});

const makeNodes = async () => {
  const { url } = await natsServer();
  const buses: Bus[] = await Promise.all([NatsBus.connect(url, { name: 'node-a' }), NatsBus.connect(url, { name: 'node-b' })]);
  const bucket = bucketName(unique('resources'));
  const [store, peer] = await Promise.all(buses.map((bus, i) => KvResourceStore.open({ bus, bucket, logger: silentLogger(), node: `node-${i}` })));
  return {
    store,
    peer,
    kv: () => buses[0].kv(bucket),
    open: (options: { lockWaitMs?: number }) => KvResourceStore.open({ bus: buses[1], bucket, logger: silentLogger(), node: 'extra', ...options }),
    cleanup: async () => {
      await Promise.all([store.close(), peer.close()]);
      await Promise.all(buses.map((b) => b.close()));
    },
  };
};

describe('resources store (nats)', () => {
  resourceStoreContract(makeNodes);
  kvProviderCases(makeNodes);
});
