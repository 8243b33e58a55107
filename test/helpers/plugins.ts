/**
 * Plugin helpers for tests: a host with a plugin store in a temp directory (the embedded store), plugin
 * bundles read from test/fixtures/plugins, and variants of them (another version, edited source), so tests
 * install real plugins the way `routr plugin install` does.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseServerConfig } from '../../core/config/server.js';
import { defaultCapabilities, type CapabilityRegistry } from '../../core/capabilities/index.js';
import { ProcessorHost } from '../../core/host/host.js';
import { checkBundle, readPluginDir, type PluginBundle } from '../../core/plugins/bundle.js';
import { silentLogger, type Logger } from '../../core/log.js';
import { Metrics } from '../../core/metrics.js';
import { packagePath } from '../../core/paths.js';
import { DirectoryBackend, PluginStore } from '../../core/plugins/store.js';
import type { SandboxEngine } from '../../sandbox/index.js';
import { testEngine } from './sandbox-engine.js';

export const testPluginsDir = packagePath('test', 'fixtures', 'plugins');

/** The bundle of a plugin under test/fixtures/plugins. */
export function fixtureBundle(ref: string): PluginBundle {
  return readPluginDir(join(testPluginsDir, ref));
}

/**
 * `base` as another version: the manifest's version, and every '<old version>' string in the source, rewritten;
 * `source` edits the source further.
 */
export function variant(base: PluginBundle, version: string, options: { source?: (source: string) => string } = {}): PluginBundle {
  const copy = structuredClone(base);
  const old = copy.manifest.metadata.version;
  copy.manifest.metadata.version = version;
  const edit = options.source ?? ((s: string) => s);
  copy.source = edit(copy.source.split(`'${old}'`).join(`'${version}'`));
  return checkBundle(copy, `variant ${version}`);
}

export interface TestHost {
  host: ProcessorHost;
  store: PluginStore;
  /** The embedded store's directory. */
  storePath: string;
  metrics: Metrics;
  dispose(): void;
}

export interface TestHostOptions {
  processors: unknown[];
  middlewares?: unknown[];
  circuitBreaker?: { failures?: number; coolDownMs?: number };
  capabilities?: CapabilityRegistry;
  engine?: SandboxEngine;
  logger?: Logger;
  /** Installed before the host starts. */
  installed?: PluginBundle[];
  resyncMs?: number;
}

export async function startTestHost(options: TestHostOptions): Promise<TestHost> {
  const root = mkdtempSync(join(tmpdir(), 'routr-plugins-'));
  const storePath = join(root, 'store');
  const store = new PluginStore(new DirectoryBackend(storePath));
  for (const bundle of options.installed ?? []) await store.install(bundle);
  const config = parseServerConfig({
    apiVersion: 'v2beta1',
    kind: 'Server',
    ref: 't',
    spec: { host: { pluginsDir: testPluginsDir, processors: options.processors, middlewares: options.middlewares ?? [], circuitBreaker: options.circuitBreaker ?? {} } },
  });
  const metrics = new Metrics();
  const host = await ProcessorHost.create({
    config: config.spec.host,
    engine: options.engine ?? testEngine(),
    logger: options.logger ?? silentLogger(),
    metrics,
    capabilities: options.capabilities ?? defaultCapabilities(),
    store,
    resyncMs: options.resyncMs,
  });
  return {
    host,
    store,
    storePath,
    metrics,
    dispose: () => {
      host.dispose();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
