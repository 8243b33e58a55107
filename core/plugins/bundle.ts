/**
 * What a plugin is to the host: a manifest (`plugin.yaml`, validated against config/schemas/plugin.schema.json),
 * one entry module's source, and fixtures. A plugin directory and an installed bundle (the JSON the management
 * API takes and the plugin store keeps) load into the same `LoadedPlugin`; `digest` tells two loads of the same
 * content apart from a new version.
 *
 * Lookup order for a processor's `plugin`: the plugin store (store.ts beside this module, asked by the host), then
 * the configured plugins directory, then routr's built-ins. This module does the two directory steps.
 */
import { createHash } from '../runtime/crypto.js';
import { existsSync, readdirSync, readFileSync, join, resolve, sep } from '../runtime/files.js';
import { load } from 'js-yaml';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describeErrors, schemaProblems, validator } from '../config/schemas.js';
import { linearRegExp } from './linear-regexp.js';
import { packagePath } from '../paths.js';
import type { Fixture, PluginManifest } from '../sdk/index.js';
import { Buffer } from '../runtime/bytes.js';

// The manifest and fixture shapes are part of the plugin SDK (the public contract); the host uses the same types.
export type { Fixture, PluginKind, PluginManifest } from '../sdk/index.js';

/** One plugin version as JSON: what `routr plugin install` posts and the plugin store keeps. */
export interface PluginBundle {
  format: 'routr.plugin.v1';
  manifest: PluginManifest;
  source: string;
  fixtures: Fixture[];
}

/** Largest bundle accepted, as JSON bytes: well under NATS's default 1 MiB message size. */
export const MAX_BUNDLE_BYTES = 512 * 1024;

export type PluginOrigin = 'store' | 'directory' | 'builtin';

export interface LoadedPlugin {
  manifest: PluginManifest;
  source: string;
  /** Names the entry in sandbox stack traces. */
  filename: string;
  fixtures: Fixture[];
  origin: PluginOrigin;
  /** The directory it came from, or `store`. */
  location: string;
  /** sha256 of the bundle's content: equal digests, equal plugins. */
  digest: string;
}

export class PluginError extends Error {
  override name = 'PluginError';
}

export function findPluginDir(ref: string, pluginsDir?: string): string {
  const found = findPluginDirOrUndefined(ref, pluginsDir);
  if (found) return found;
  throw new PluginError(`plugin "${ref}" not found (looked in ${[pluginsDir, packagePath('plugins')].filter(Boolean).join(', ')})`);
}

export function findPluginDirOrUndefined(ref: string, pluginsDir?: string): string | undefined {
  for (const base of [pluginsDir, packagePath('plugins')]) {
    if (!base) continue;
    const dir = join(base, ref);
    if (existsSync(join(dir, 'plugin.yaml'))) return dir;
  }
  return undefined;
}

export function loadPlugin(dir: string): LoadedPlugin {
  const bundle = readPluginDir(dir);
  const origin = resolve(dir).startsWith(packagePath('plugins') + sep) ? 'builtin' : 'directory';
  return loadedFromBundle(bundle, { origin, location: dir, filename: resolve(dir, bundle.manifest.spec.entry) });
}

/** A bundle (already checked by `checkBundle`) as a plugin the host can run. */
export function loadedFromBundle(bundle: PluginBundle, where: { origin: PluginOrigin; location: string; filename?: string }): LoadedPlugin {
  const m = bundle.manifest;
  return {
    manifest: m,
    source: bundle.source,
    filename: where.filename ?? `${m.ref}@${m.metadata.version}/${m.spec.entry}`,
    fixtures: bundle.fixtures,
    origin: where.origin,
    location: where.location,
    digest: bundleDigest(bundle),
  };
}

/** The bundle form of a loaded plugin (for installing what a directory holds). */
export function bundleOf(plugin: LoadedPlugin): PluginBundle {
  return { format: 'routr.plugin.v1', manifest: plugin.manifest, source: plugin.source, fixtures: plugin.fixtures };
}

/** Read `plugin.yaml`, the entry module and `fixtures/*.yaml|yml|json` of a plugin directory into a bundle. */
export function readPluginDir(dir: string): PluginBundle {
  const file = join(dir, 'plugin.yaml');
  const manifest = readYaml(file);
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
  const fixtures: Fixture[] = [];
  const fixturesDir = join(dir, 'fixtures');
  if (existsSync(fixturesDir)) {
    for (const name of readdirSync(fixturesDir).filter((f) => /\.(ya?ml|json)$/.test(f)).sort()) {
      const content = readYaml(join(fixturesDir, name));
      for (const fixture of Array.isArray(content) ? content : [content]) {
        fixtures.push({ ...(fixture as Fixture), file: `fixtures/${name}` });
      }
    }
  }
  return checkBundle({ format: 'routr.plugin.v1', manifest: m, source, fixtures }, dir);
}

/**
 * Validate a bundle (from the API, the store or a directory) against config/schemas/plugin-bundle.schema.json
 * and the size cap; every problem is reported at once, each with its JSON path.
 */
export function checkBundle(value: unknown, where: string): PluginBundle {
  const size = Buffer.byteLength(JSON.stringify(value) ?? '');
  if (size > MAX_BUNDLE_BYTES) throw new PluginError(`${where}: the plugin bundle is ${size} bytes; at most ${MAX_BUNDLE_BYTES} are accepted`);
  const validate = validator('plugin-bundle');
  if (!validate(value)) throw new PluginError(`${where}: invalid plugin bundle:\n  ${describeErrors(validate.errors).join('\n  ')}`);
  return value as PluginBundle;
}

export function bundleDigest(bundle: PluginBundle): string {
  return createHash('sha256')
    .update(JSON.stringify([bundle.manifest, bundle.source, bundle.fixtures]))
    .digest('hex');
}

/**
 * The config a plugin instance runs with: the manifest's defaults under the operator's config, checked against
 * the manifest's `configSchema` (defaults filled in). Throws PluginError naming `where` and every JSON path.
 * `owned`: the operator's config is a fresh object the caller gives away (a config file just parsed), so it is
 * not copied — a 100,000-entry R3 document takes ≈ 0.25 s to clone.
 */
export function mergedConfig(
  plugin: LoadedPlugin,
  options: { config: Record<string, unknown> | undefined; where: string; owned?: boolean; hostDefaults?: Record<string, unknown> },
): Record<string, unknown> {
  const { where } = options;
  const defaults = structuredClone(plugin.manifest.spec.config ?? {});
  const schema = plugin.manifest.spec.configSchema;
  const offered = hostDefaultsFor(schema, options.hostDefaults);
  const config = { ...defaults, ...offered, ...(options.owned ? options.config : structuredClone(options.config ?? {})) };
  if (!schema) return config;
  const validate = compileConfigSchema(plugin);
  if (!validate(config)) {
    const problems = schemaProblems(validate.errors).map((p) => `${p.path || '/'}: ${p.message}${idAlong(config, p.path)}`);
    throw new PluginError(`${where}: config does not satisfy the configSchema of plugin "${plugin.manifest.ref}" (${plugin.location}):\n  ${problems.join('\n  ')}`);
  }
  return config;
}

/**
 * Host settings a plugin may take as defaults (`spec.host.registrar`: `nat`, `backendHeader`): only those its
 * configSchema declares as properties, so a plugin sees them only when it asked for them by name. They sit
 * between the manifest's defaults and the operator's own config for the entry.
 */
function hostDefaultsFor(schema: unknown, offered: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!offered || schema === null || typeof schema !== 'object') return {};
  const properties = (schema as { properties?: unknown }).properties;
  if (properties === null || typeof properties !== 'object') return {};
  return Object.fromEntries(Object.entries(offered).filter(([key, value]) => value !== undefined && Object.hasOwn(properties, key)));
}

/**
 * ` (id "x")` for the innermost object on the JSON pointer `path` that has a string `id` or `ref`, so a problem deep
 * in a long config names the entry people know it by; '' when there is none.
 */
export function idAlong(document: unknown, path: string): string {
  const tokens = path.split('/').slice(1);
  let found = '';
  let node = document;
  for (let i = 0; node !== null && typeof node === 'object'; i++) {
    const { id, ref } = node as { id?: unknown; ref?: unknown };
    if (typeof id === 'string') found = ` (id "${id}")`;
    else if (typeof ref === 'string') found = ` (ref "${ref}")`;
    if (i === tokens.length) break;
    node = (node as Record<string, unknown>)[tokens[i].replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return found;
}

type ConfigValidator = ReturnType<Ajv2020['compile']>;
const configValidators = new Map<string, ConfigValidator>();
let configAjv: Ajv2020 | undefined;

/**
 * The ajv instance for plugins' configSchemas, apart from routr's own (so a `$id` in one cannot collide with
 * routr's schemas or another plugin's): strict like routr's, and with `pattern`/`patternProperties` matched by a
 * linear-time engine (linear-regexp.ts) — the schema is the plugin author's, the validation runs on the host thread.
 */
function pluginSchemaAjv(): Ajv2020 {
  configAjv ??= new Ajv2020({ strict: true, allErrors: true, useDefaults: true, allowUnionTypes: false, code: { regExp: linearRegExp } });
  return configAjv;
}

/**
 * Compiled strict (a schema with unknown keywords is refused). The schema is dropped from ajv's registry right
 * after compiling, so hot-swapping versions does not grow it; validators are cached by plugin digest.
 */
function compileConfigSchema(plugin: LoadedPlugin): ConfigValidator {
  let validate = configValidators.get(plugin.digest);
  if (validate) return validate;
  const { $id: _id, ...schema } = plugin.manifest.spec.configSchema as Record<string, unknown>;
  const ajv = pluginSchemaAjv();
  try {
    validate = ajv.compile(schema);
  } catch (err) {
    throw new PluginError(`plugin "${plugin.manifest.ref}" (${plugin.location}): /spec/configSchema is not a valid JSON Schema: ${(err as Error).message}`, { cause: err });
  } finally {
    ajv.removeSchema(schema);
  }
  if (configValidators.size >= 256) configValidators.clear();
  configValidators.set(plugin.digest, validate);
  return validate;
}

function readYaml(file: string): unknown {
  try {
    return load(readFileSync(file, 'utf8'), { filename: file });
  } catch (err) {
    throw new PluginError(`${file}: ${(err as Error).message}`, { cause: err });
  }
}
