/**
 * The resources module's public surface: every export is named here. `openResourceStore` is the one place that
 * picks a provider from `spec.resources` (files by default; nats or redis for clusters; restful, read-only).
 *
 * Readers (the Connect processor through the `resources.read` capability, the management API) take
 * `store.current()`, an immutable ResourceSet, and never see a half-applied change.
 */
import type { Bus } from '../bus/types.js';
import type { ServerConfig } from '../config/server.js';
import type { Logger } from '../log.js';
import { env } from '../runtime/process.js';
import { FilesResourceStore } from './files.js';
import { KvResourceStore } from './kv.js';
import { RedisResourceStore } from './redis.js';
import { RestfulResourceStore } from './restful.js';
import type { ResourceStore } from './store.js';

export { aclPermits, inNetwork, normaliseTelUrl, parseNetwork, uriHost } from './addresses.js';
export { resourcesCapability } from './capability.js';
export { mountResourcesApi } from './api.js';
export { crossCheck } from './checks.js';
export { toRoutrShapes, type RoutrExport } from './export.js';
export { normaliseRoutrDocument, type NormalisedDocument } from './routr-shapes.js';
export { FilesResourceStore, type FilesStoreOptions, type ReloadResult } from './files.js';
export { KvResourceStore, resourceKey, type KvStoreOptions } from './kv.js';
export { REDIS_DEFAULT_PREFIX, RedisResourceStore, type RedisStoreOptions } from './redis.js';
export { RESTFUL_ENDPOINTS, RestfulResourceStore, type RestfulStoreOptions } from './restful.js';
export { describeSource, formatProblem, ResourceError, type Problem } from './problems.js';
export { canonicalJson, redact, ResourceSet, type ResourceFilter } from './set.js';
export { EVERY_TENANT, mayReach, mayUse, ownedBy, SHAREABLE_KINDS, sharedWithOf, sharesWith, tenantOf, visibleTo } from './tenants.js';
export { checkDelete, planApply, storedDocuments, type ApplyChange, type ApplyOptions, type ApplyResult, type ChangeListener, type DeleteResult, type ResourceStore, type StoredDocument } from './store.js';
export * from './types.js';
export { convertV1, type Conversion } from './v1.js';
export { checkDocuments, checkResource, validateDocuments, type Checked, type CheckOptions } from './validate.js';
export { listFiles, parseYaml, readResourcePath, type ParsedDocuments, type SourceDocument } from './yaml.js';

export interface OpenStoreOptions {
  /** Needed by the nats provider (its KV bucket); the files provider ignores it. */
  bus?: Bus;
  logger: Logger;
  /** This node's name, shown in the nats provider's lock. */
  node?: string;
}

/** Open the configured store; the files provider throws ResourceError when its directory does not validate. */
export async function openResourceStore(config: ServerConfig['spec']['resources'], options: OpenStoreOptions): Promise<ResourceStore> {
  const logger = options.logger.child({ component: 'resources', provider: config.provider });
  if (config.provider === 'nats') {
    if (!options.bus) throw new Error('the nats resources provider needs a bus');
    return KvResourceStore.open({ bus: options.bus, logger, node: options.node });
  }
  if (config.provider === 'redis') {
    const { pollSeconds, secret, ...redis } = config.redis;
    return RedisResourceStore.open({ ...redis, secret: secret ?? env('ROUTR_REDIS_SECRET'), pollMs: pollSeconds * 1000, logger, node: options.node });
  }
  if (config.provider === 'restful') {
    const restful = config.restful!;
    return RestfulResourceStore.open({ ...restful, secret: restful.secret ?? env('ROUTR_RESTFUL_SECRET'), logger });
  }
  return FilesResourceStore.open({ path: config.path, logger });
}
