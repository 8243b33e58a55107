/**
 * The shield's management API (mounted on the ops server, behind the API token like every /api/v1 route):
 *
 *   GET    /api/v1/bans              {items: [{source, until, reason, by, at}]}, soonest to end first
 *   POST   /api/v1/bans              {address, seconds?}: ban an address (its /64 for IPv6) everywhere; default 3600 s
 *   DELETE /api/v1/bans/<address>    lift it everywhere (404 when it was not banned)
 *   GET    /api/v1/acl               {configured: {allow, deny}, api: {allow, deny}}
 *   PUT    /api/v1/acl               {allow, deny}: the API's list, merged with the configured one on every edge
 */
import { ApiError, mountApi, readBody } from '../api/http.js';
import type { NetworkList } from '../config/server.js';
import { json, type OpsServer } from '../http.js';
import { MAX_BAN_SECONDS } from './bans.js';
import type { Shield } from './index.js';
import { sourceKey } from '../config/networks.js';

export interface ShieldApiOptions {
  token: string | undefined;
  configured: NetworkList;
  ipv6PrefixLength: number;
}

function parseJson(text: string): Record<string, unknown> {
  try {
    const value = JSON.parse(text) as unknown;
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // answered below
  }
  throw new ApiError(400, 'the body must be a JSON object');
}

function keyOf(address: string, prefix: number): string {
  const bare = address.includes('/') ? address.slice(0, address.indexOf('/')) : address;
  const key = sourceKey(bare, prefix);
  if (!key) throw new ApiError(400, `"${address}" is not an IPv4 or IPv6 address`);
  return key;
}

function strings(value: unknown, name: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw new ApiError(400, `${name} must be a list of strings`);
  return value as string[];
}

export function mountShieldApi(server: OpsServer, shield: Shield, options: ShieldApiOptions): void {
  mountApi(server, 'bans', options.token, async (req, res, path) => {
    if (req.method === 'GET' && path.length === 0) return json(res, 200, { items: shield.bans.list() });
    if (req.method === 'POST' && path.length === 0) {
      const body = parseJson(await readBody(req, 64 * 1024));
      if (typeof body.address !== 'string') throw new ApiError(400, 'address is required');
      const seconds = body.seconds === undefined ? 3600 : body.seconds;
      if (typeof seconds !== 'number' || !Number.isInteger(seconds) || seconds < 1 || seconds > MAX_BAN_SECONDS) {
        throw new ApiError(400, `seconds must be an integer from 1 to ${MAX_BAN_SECONDS}`);
      }
      const ban = await shield.bans.ban(keyOf(body.address, options.ipv6PrefixLength), seconds, 'api');
      return json(res, 200, ban);
    }
    if (req.method === 'DELETE' && path.length === 1) {
      const key = keyOf(path[0], options.ipv6PrefixLength);
      if (!(await shield.bans.lift(key))) throw new ApiError(404, `${key} is not banned`);
      return json(res, 200, { lifted: key });
    }
    throw new ApiError(405, 'bans: GET, POST or DELETE /<address>');
  });
  mountApi(server, 'acl', options.token, async (req, res, path) => {
    if (path.length > 0) throw new ApiError(404, 'acl has no sub-resources');
    if (req.method === 'GET') return json(res, 200, { configured: options.configured, api: shield.accessControlList });
    if (req.method === 'PUT') {
      const body = parseJson(await readBody(req, 1024 * 1024));
      const list = { allow: strings(body.allow, 'allow'), deny: strings(body.deny, 'deny') };
      try {
        await shield.setAccessControlList(list);
      } catch (err) {
        if (err instanceof RangeError) throw new ApiError(400, err.message);
        throw err;
      }
      return json(res, 200, { configured: options.configured, api: shield.accessControlList });
    }
    throw new ApiError(405, 'acl: GET or PUT');
  });
}
