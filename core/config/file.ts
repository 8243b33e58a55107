/**
 * `routr start --config <file>`: the file holds a `kind: Server` document, or Routr v1's general configuration,
 * which is converted on load (core/config/v1.ts) with one warning per mapped property; a property v1 had that
 * routr refuses is a ConfigError naming it and the reason.
 */
import { dirname, resolve } from '../runtime/files.js';
import { ConfigError, configFromDocument, readConfigDocument, type ServerConfig } from './server.js';
import { convertV1Config, isV1Config } from './v1.js';

export interface LoadedConfig {
  config: ServerConfig;
  /** `<v1 path>: <what it became>`, when the file was Routr v1's. */
  warnings: string[];
  convertedFromV1: boolean;
}

export function readServerConfigFile(file: string): LoadedConfig {
  const document = readConfigDocument(file);
  if (!isV1Config(document)) return { config: configFromDocument(document, file), warnings: [], convertedFromV1: false };
  const conversion = convertV1Config(document, { baseDir: dirname(resolve(file)) });
  if (!conversion.document) throw new ConfigError(file, conversion.problems.map((p) => `Routr v1 config ${p.path}: ${p.message}`));
  const warnings = conversion.warnings.map((w) => `Routr v1 config ${w.path}: ${w.message}`);
  return { config: configFromDocument(conversion.document, file), warnings, convertedFromV1: true };
}
