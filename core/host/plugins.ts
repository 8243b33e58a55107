/**
 * Finds and loads plugins: `plugins/<ref>/plugin.yaml` (validated against config/schemas/plugin.schema.json)
 * and its entry module's source. Lookup order: the configured plugins directory, then routr's built-ins.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { load } from 'js-yaml';
import { describeErrors, validator } from '../config/schemas.js';
import { packagePath } from '../paths.js';

export interface PluginManifest {
  apiVersion: 'v1';
  kind: 'Processor';
  ref: string;
  metadata: { name: string; version: string; description?: string };
  spec: {
    entry: string;
    /** sync (default): runs on the host thread, functions must not return Promises; async: the isolate's thread. */
    execution?: 'sync' | 'async';
    methods?: string[];
    matchFunc?: string;
    capabilities: string[];
    limits?: { timeoutMs?: number; memoryMb?: number };
    config?: Record<string, unknown>;
  };
}

export interface LoadedPlugin {
  manifest: PluginManifest;
  dir: string;
  source: string;
  filename: string;
}

export class PluginError extends Error {
  override name = 'PluginError';
}

export function findPluginDir(ref: string, pluginsDir?: string): string {
  for (const base of [pluginsDir, packagePath('plugins')]) {
    if (!base) continue;
    const dir = join(base, ref);
    if (existsSync(join(dir, 'plugin.yaml'))) return dir;
  }
  throw new PluginError(`plugin "${ref}" not found (looked in ${[pluginsDir, packagePath('plugins')].filter(Boolean).join(', ')})`);
}

export function loadPlugin(dir: string): LoadedPlugin {
  const file = join(dir, 'plugin.yaml');
  let manifest: unknown;
  try {
    manifest = load(readFileSync(file, 'utf8'), { filename: file });
  } catch (err) {
    throw new PluginError(`${file}: ${(err as Error).message}`, { cause: err });
  }
  const validate = validator('plugin');
  if (!validate(manifest)) throw new PluginError(`${file}:\n  ${describeErrors(validate.errors).join('\n  ')}`);
  const m = manifest as PluginManifest;
  const filename = resolve(dir, m.spec.entry);
  if (!filename.startsWith(resolve(dir) + sep)) throw new PluginError(`${file}: /spec/entry must stay inside the plugin directory`);
  let source: string;
  try {
    source = readFileSync(filename, 'utf8');
  } catch (err) {
    throw new PluginError(`${file}: cannot read entry ${m.spec.entry}: ${(err as Error).message}`, { cause: err });
  }
  return { manifest: m, dir, source, filename };
}
