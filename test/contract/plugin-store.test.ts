/**
 * The plugin store contract against each backend: a directory (the embedded store), the memory bus KV, and
 * JetStream KV on a real nats-server this file starts on a free port.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { NatsBus } from '../../core/bus/nats.js';
import { MemoryBus, MemoryHub } from '../../core/bus/memory.js';
import type { Bus } from '../../core/bus/types.js';
import { DirectoryBackend, PluginStore } from '../../core/plugins/store.js';
import { KvBackend } from '../../core/plugins/store-kv.js';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { pluginStoreContract } from './plugin-store.case.js';

pluginStoreContract('directory', async () => {
  const root = mkdtempSync(join(tmpdir(), 'routr-store-'));
  // One backend object: the directory store is one process's, and tells its watchers in-process.
  const backend = new DirectoryBackend(root);
  return {
    store: new PluginStore(backend),
    second: async () => new PluginStore(backend),
    cleanup: async () => rmSync(root, { recursive: true, force: true }),
  };
});

pluginStoreContract('memory kv', async () => {
  const hub = new MemoryHub();
  const buses: Bus[] = [new MemoryBus({ hub })];
  return {
    store: new PluginStore(await KvBackend.open(buses[0])),
    second: async () => {
      const bus = new MemoryBus({ hub });
      buses.push(bus);
      return new PluginStore(await KvBackend.open(bus));
    },
    cleanup: async () => {
      await Promise.all(buses.map((b) => b.close()));
    },
  };
});

let server: Promise<NatsServerHandle> | undefined;
after(async () => {
  await (await server)?.stop();
});

pluginStoreContract('nats kv', async () => {
  const { url } = await (server ??= startNatsServer({ jetstream: true }));
  const buses: Bus[] = [await NatsBus.connect(url, { name: 'store-contract' })];
  return {
    store: new PluginStore(await KvBackend.open(buses[0])),
    second: async () => {
      const bus = await NatsBus.connect(url, { name: 'store-contract-second' });
      buses.push(bus);
      return new PluginStore(await KvBackend.open(bus));
    },
    cleanup: async () => {
      await Promise.all(buses.map((b) => b.close()));
    },
  };
});
