// Blocklist router — an example routr processor plugin (see PLUGINS.md).
//
// It runs in routr's sandbox: one ES module, no imports, no Node APIs; only `routr.log` and `routr.kv`, the
// capabilities its manifest lists. Types come from the SDK through JSDoc (`routr/sdk`).
//
// @ts-check

/** @typedef {{ target: string, blockedCallers: string[], blockedPrefixes: string[] }} Config */
/** @typedef {import('routr/sdk').RequestEnvelope} Request */
/** @typedef {import('routr/sdk').PluginContext<Config>} Context */

const USER = /^sips?:([^@;?]+)@/;

/** @param {string} uri */
function userOf(uri) {
  return USER.exec(uri)?.[1] ?? '';
}

/** @param {Request} request */
function inDialog(request) {
  return request.message.headers.to.params.tag !== undefined;
}

/**
 * Refuse blocked callers and destinations before routing. Returning a respond decision answers the request;
 * `true` lets it go on to doProcess.
 * @param {Request} request
 * @param {Context} context
 * @returns {import('routr/sdk').StageVerdict}
 */
export function isAuthorized(request, { config }) {
  if (inDialog(request)) return true;
  const caller = userOf(request.message.headers.from.uri);
  const callee = userOf(request.message.uri);
  const blocked = config.blockedCallers.includes(caller) || config.blockedPrefixes.some((prefix) => callee.startsWith(prefix));
  if (!blocked) return true;
  // The kv store is this plugin's own; reads are synchronous, writes reach the other hosts in the background.
  const refused = Number(routr.kv.get('refused.total') ?? 0) + 1;
  routr.kv.set('refused.total', refused);
  routr.log.info('call refused', { caller, callee, refused });
  return { action: 'respond', status: 403, reason: 'Blocked' };
}

/**
 * New calls go to the target, keeping the dialled user; in-dialog requests follow their route set.
 * @param {Request} request
 * @param {Context} context
 * @returns {import('routr/sdk').Decision}
 */
export function doProcess(request, { config }) {
  if (inDialog(request) || request.method === 'ACK') return { action: 'forward' };
  const user = userOf(request.message.uri);
  const uri = user && !USER.test(config.target) ? config.target.replace(/^(sips?:)/, `$1${user}@`) : config.target;
  return { action: 'forward', targets: [{ uri }] };
}
