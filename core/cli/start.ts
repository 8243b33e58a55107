/**
 * `routr start`: load the config (a kind: Server document, or Routr v1's config.yaml, converted), run the chosen roles, and on SIGTERM or SIGINT drain in-flight
 * transactions and exit 0. A second signal exits at once. `--resources <dir>` points the files provider at a
 * directory, overriding spec.resources (a quick way to run a given set).
 */
import { resolve } from '../runtime/files.js';
import { parseArgs, abort, exit, onSignal, onUncaught, writeStderr } from '../runtime/process.js';
import { readServerConfigFile } from '../config/file.js';
import { ConfigError, deepFreeze, type ServerConfig } from '../config/server.js';
import { createLogger } from '../log.js';
import { packagePath } from '../paths.js';
import { ResourceError } from '../resources/problems.js';
import { RoutrServer, type Role } from '../server.js';
import { UsageError } from './usage.js';

const ROLES = new Set<Role>(['all', 'edge', 'host']);

export async function runStart(args: string[]): Promise<number> {
  const { values: options } = parseArgs({
    args,
    options: { config: { type: 'string', short: 'c' }, role: { type: 'string', default: 'all' }, resources: { type: 'string', short: 'r' } },
    strict: true,
  });
  const role = (options.role ?? 'all') as Role;
  if (!ROLES.has(role)) {
    throw new UsageError(`--role must be all, edge or host (got "${options.role}")`);
  }
  const file = options.config ? resolve(options.config) : packagePath('config', 'routr.yaml');
  let config: ServerConfig;
  let warnings: string[] = [];
  try {
    ({ config, warnings } = readServerConfigFile(file));
    if (options.resources) config = withResources(config, resolve(options.resources));
  } catch (err) {
    if (err instanceof ConfigError) {
      writeStderr(`routr: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const logger = createLogger({ level: config.spec.logging.level });
  // Routr v1's config: one warning per property, saying what it became (or why it is ignored).
  for (const warning of warnings) logger.warn({ config: file }, warning);
  // The last resort: every request path contains its own failures (a 500 for that request), so an exception
  // that still escapes is a bug to log, not a reason to drop every call in progress. Serving goes on.
  onUncaught((kind, err) => logger.error({ err, kind, code: 'ROUTR_INTERNAL' }, `uncaught ${kind} (contained; routr keeps serving)`));
  let onFatal: (reason: string) => void = () => {};
  const server = new RoutrServer({ config, role, logger, onFatal: (reason) => onFatal(reason) });
  try {
    await server.start();
  } catch (err) {
    if (err instanceof ResourceError) {
      // The problems go to stderr, one per line, as config errors do; the log line just records the outcome.
      writeStderr(`routr: ${err.message}\n`);
      logger.fatal({ problems: err.problems.length }, 'cannot start: invalid resources');
      return 1;
    }
    logger.fatal({ err }, 'cannot start');
    return 1;
  }
  logger.info({ config: file, role }, 'routr started');
  return new Promise<number>((done) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) exit(1);
      stopping = true;
      logger.info({ signal }, 'shutting down');
      server.stop().then(
        () => done(0),
        (err: unknown) => {
          logger.error({ err }, 'unclean shutdown');
          done(1);
        },
      );
    };
    onSignal('SIGTERM', stop);
    onSignal('SIGINT', stop);
    // A wedged sandbox thread: drain what we can, then exit non-zero so the supervisor restarts us. A lost
    // thread can hang a normal exit, so a watchdog aborts if draining takes too long.
    onFatal = () => {
      if (stopping) return;
      stopping = true;
      setTimeout(() => abort(), config.spec.edge.drainTimeoutMs + 5000).unref();
      server.stop().finally(() => done(70));
    };
  });
}

/** The config with the files provider pointed at `dir` (the loaded config is frozen, so this is a new one). */
function withResources(config: ServerConfig, dir: string): ServerConfig {
  return deepFreeze({ ...config, spec: { ...config.spec, resources: { ...config.spec.resources, provider: 'files', path: dir } } });
}
