/**
 * The shield's management API (mounted on the ops server; permissions in core/api/routes.ts):
 *
 *   GET    /api/v1/bans              {items: [{source, until, reason, by, at}]}, soonest to end first
 *   POST   /api/v1/bans              {address, seconds?}: ban an address (its /64 for IPv6) everywhere; default 3600 s
 *   DELETE /api/v1/bans/<address>    lift it everywhere (404 when it was not banned)
 *   GET    /api/v1/acl               {configured: {allow, deny}, api: {allow, deny}}
 *   PUT    /api/v1/acl               {allow, deny}: the API's list, merged with the configured one on every edge
 */
import { ApiError, mountApi, readJsonObject } from '../api/http.js';
import type { ApiAuth } from '../api/auth.js';
import type { NetworkList } from '../config/server.js';
import { json, type OpsServer } from '../http.js';
import { MAX_BAN_SECONDS } from './bans.js';
import type { Shield } from './index.js';
import { sourceKey } from '../config/networks.js';
import { createHash } from '../runtime/crypto.js';

export interface ShieldApiOptions {
  configured: NetworkList;
  ipv6PrefixLength: number;
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

export function mountShieldApi(server: OpsServer, auth: ApiAuth, shield: Shield, options: ShieldApiOptions): void {
  mountApi(server, auth, {
    'bans.list': ({ res }) => json(res, 200, { items: shield.bans.list() }),
    'bans.add': async ({ req, res, audit }) => {
      const body = await readJsonObject(req, 64 * 1024);
      if (typeof body.address !== 'string') throw new ApiError(400, 'address is required');
      const seconds = body.seconds === undefined ? 3600 : body.seconds;
      if (typeof seconds !== 'number' || !Number.isInteger(seconds) || seconds < 1 || seconds > MAX_BAN_SECONDS) {
        throw new ApiError(400, `seconds must be an integer from 1 to ${MAX_BAN_SECONDS}`);
      }
      const key = keyOf(body.address, options.ipv6PrefixLength);
      audit.target = key;
      const ban = await shield.bans.ban(key, seconds, 'api');
      audit.changes = [{ target: key, action: 'banned', before: null, after: `until ${new Date(ban.until).toISOString()}` }];
      return json(res, 200, ban);
    },
    'bans.lift': async ({ res, params, audit }) => {
      const key = keyOf(params.address, options.ipv6PrefixLength);
      audit.target = key;
      if (!(await shield.bans.lift(key))) throw new ApiError(404, `${key} is not banned`);
      audit.changes = [{ target: key, action: 'lifted', before: 'banned', after: null }];
      return json(res, 200, { lifted: key });
    },
    'acl.get': ({ res }) => json(res, 200, { configured: options.configured, api: shield.accessControlList }),
    'acl.set': async ({ req, res, audit }) => {
      const body = await readJsonObject(req, 1024 * 1024);
      const list = { allow: strings(body.allow, 'allow'), deny: strings(body.deny, 'deny') };
      audit.target = 'acl';
      audit.before = listDigest(shield.accessControlList);
      try {
        await shield.setAccessControlList(list);
      } catch (err) {
        if (err instanceof RangeError) throw new ApiError(400, err.message);
        throw err;
      }
      audit.after = listDigest(shield.accessControlList);
      return json(res, 200, { configured: options.configured, api: shield.accessControlList });
    },
  });
}

/** The access list as the audit record names it: how many entries, and a digest of them. */
function listDigest(list: NetworkList): string {
  return `allow ${list.allow.length}, deny ${list.deny.length}, sha256 ${createHash('sha256').update(JSON.stringify(list)).digest('hex').slice(0, 16)}`;
}
