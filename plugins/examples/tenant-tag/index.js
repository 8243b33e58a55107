// Tenant tagger — an example routr middleware (see PLUGINS.md).
//
// As a pre middleware (`stage: pre`), onRequest adds `metadata.tenant` for the processor and later middlewares,
// or answers 404 for a domain no tenant owns. As a post middleware (`stage: post`), onDecision stamps responses
// routr sends itself with an X-Tenant header. Configure it once per stage you want.
//
// @ts-check

/** @typedef {{ tenants: Record<string, string>, stampResponses: boolean }} Config */

const DOMAIN = /^sips?:(?:[^@]*@)?([^:;?>]+)/;

/**
 * @param {import('routr/sdk').RequestEnvelope} request
 * @param {import('routr/sdk').PluginContext<Config>} context
 * @returns {import('routr/sdk').PreVerdict}
 */
export function onRequest(request, { config }) {
  if (request.message.headers.to.params.tag !== undefined) return true;
  const domain = DOMAIN.exec(request.message.uri)?.[1]?.toLowerCase() ?? '';
  const tenant = config.tenants[domain];
  if (!tenant) return { action: 'respond', status: 404, reason: 'Unknown Domain' };
  return { metadata: { tenant } };
}

/**
 * @param {import('routr/sdk').RequestEnvelope} request
 * @param {import('routr/sdk').Decision} decision
 * @param {import('routr/sdk').PluginContext<Config>} context
 * @returns {import('routr/sdk').Decision | undefined}
 */
export function onDecision(request, decision, { config }) {
  const tenant = request.metadata.tenant;
  if (!config.stampResponses || decision.action !== 'respond' || !tenant) return undefined;
  return { ...decision, headers: { ...(decision.headers ?? {}), 'X-Tenant': tenant } };
}
