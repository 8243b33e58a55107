/**
 * The plugin system around a host: the plugin store (a directory on the embedded bus, a KV bucket on NATS),
 * the `kv` capability's mirror (the management API over them is core/host/plugins-api.ts). On a
 * bus without KV (nats-server without JetStream) the host still runs directory and built-in plugins, and
 * install, the store and `kv` are reported unavailable with the reason.
 */
import { join } from '../runtime/files.js';
import type { Bus } from '../bus/types.js';
import { stateDirOf, type ServerConfig } from '../config/server.js';
import type { CapabilityRegistry } from '../capabilities/index.js';
import type { Logger } from '../log.js';
import type { KvMirror } from '../bus/kv-mirror.js';
import { kvCapability, openPluginKv } from './kv.js';
import { DirectoryBackend, PluginStore } from './store.js';
import { KvBackend } from './store-kv.js';

export { kvCapability, openPluginKv, PLUGIN_KV_BUCKET, scratchPluginKv } from './kv.js';
export { DirectoryBackend, PluginStore, PluginStoreError, type PluginState, type StoreBackend } from './store.js';
export { KvBackend, PLUGINS_BUCKET } from './store-kv.js';

/** The embedded store's directory when `spec.host.pluginStore.path` is not set: in the state directory. */
export const DEFAULT_STORE_DIR = 'plugins';

export interface PluginRuntimeOptions {
  bus: Bus;
  config: ServerConfig['spec'];
  logger: Logger;
  /** The `kv` provider is registered here. */
  capabilities: CapabilityRegistry;
}

export class PluginRuntime {
  readonly store: PluginStore | undefined;
  readonly storeProblem: string | undefined;
  readonly #mirror: KvMirror | undefined;

  private constructor(store: PluginStore | undefined, storeProblem: string | undefined, mirror: KvMirror | undefined) {
    this.store = store;
    this.storeProblem = storeProblem;
    this.#mirror = mirror;
  }

  static async open(options: PluginRuntimeOptions): Promise<PluginRuntime> {
    const { bus, logger } = options;
    let store: PluginStore | undefined;
    let problem: string | undefined;
    if (bus.kind === 'nats') {
      try {
        store = new PluginStore(await KvBackend.open(bus));
      } catch (err) {
        problem = (err as Error).message;
        logger.info({ reason: problem }, 'plugin store unavailable: hosts run directory and built-in plugins only');
      }
    } else {
      store = new PluginStore(new DirectoryBackend(options.config.host.pluginStore?.path ?? join(stateDirOf(options.config), DEFAULT_STORE_DIR)));
    }
    let mirror: KvMirror | undefined;
    try {
      mirror = await openPluginKv(bus, logger);
      options.capabilities.register(kvCapability(mirror));
    } catch (err) {
      logger.info({ reason: (err as Error).message }, 'kv capability unavailable');
    }
    return new PluginRuntime(store, problem, mirror);
  }

  async close(): Promise<void> {
    await this.#mirror?.close();
  }
}
