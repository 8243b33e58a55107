/**
 * The ResourceStore contract and the KV provider's own cases against a real nats-server with JetStream (two
 * connections stand for two nodes), started by this file on a free port.
 */
import { after, describe } from 'node:test';
import { NatsBus } from '../../core/bus/nats.js';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { kvNodesOn, kvProviderCases } from './resources-kv.case.js';
import { resourceStoreContract } from './resources-store.case.js';
import { unique } from './support.js';

let server: Promise<NatsServerHandle> | undefined;
const natsServer = (): Promise<NatsServerHandle> => (server ??= startNatsServer({ jetstream: true }));
after(async () => {
  await (await server)?.stop();
});

const makeNodes = async () => {
  const { url } = await natsServer();
  return kvNodesOn([await NatsBus.connect(url, { name: 'node-a' }), await NatsBus.connect(url, { name: 'node-b' })], unique('resources'));
};

describe('resources store (nats)', () => {
  resourceStoreContract(makeNodes);
  kvProviderCases(makeNodes);
});
