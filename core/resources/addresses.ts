/**
 * The values resources compare by meaning rather than by spelling: ACL entries (addresses, CIDRs, IPv4
 * address/netmask), tel: URLs (visual separators ignored) and the host of a URI. Validation and the ResourceSet
 * indexes use the same functions, so "duplicate" at load time means "same key" at lookup time.
 */
import ipaddr from 'ipaddr.js';
import type { AccessControlList } from './types.js';

import { parseNetwork, type Network } from '../config/networks.js';

export { parseNetwork, type Network };

export function inNetwork(address: string, networks: readonly Network[]): boolean {
  if (!ipaddr.isValid(address)) return false;
  const parsed = ipaddr.process(address);
  return networks.some(([net, bits]) => net.kind() === parsed.kind() && parsed.match(net, bits));
}

/**
 * Whether an AccessControlList lets `address` in: an address in `allow` is let in even if `deny` covers it (so
 * "deny 0.0.0.0/0, allow 10.0.0.0/8" admits only 10/8), one in `deny` only is refused, one in neither is let in.
 */
export function aclPermits(acl: AccessControlList, address: string): boolean {
  const { allow, deny } = acl.spec.accessControlList;
  if (inNetwork(address, allow.map(parseNetwork))) return true;
  return !inNetwork(address, deny.map(parseNetwork));
}

/**
 * One spelling per telephone number: `tel:+1 (910) 343-4434`, `tel:+1-910-343-4434` and `+19103434434` all
 * become `tel:+19103434434` (RFC 3966 visual separators dropped). A leading + is kept: global and local numbers
 * differ.
 */
export function normaliseTelUrl(value: string): string {
  const number = value.trim().replace(/^tel:/i, '').split(';')[0];
  return `tel:${number.replace(/[\s().-]/g, '')}`;
}

/** The host of `host`, `host:port`, `sip:user@host:port;params` or `[v6]:port`, lower-cased; undefined if none. */
export function uriHost(uri: string): string | undefined {
  let rest = uri.trim().replace(/^sips?:/i, '');
  const at = rest.lastIndexOf('@');
  if (at !== -1) rest = rest.slice(at + 1);
  rest = rest.split(/[;?]/)[0];
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    return close > 1 ? rest.slice(0, close + 1).toLowerCase() : undefined;
  }
  const host = rest.split(':')[0];
  return host ? host.toLowerCase() : undefined;
}

/** `sip:user@host` (scheme sips read as sip, lower-case host, no port or parameters); other schemes lower-cased. */
export function aorKey(aor: string): string {
  const sip = /^(sips?):(?:([^@;?]*)@)?(\[[^\]]+\]|[^:;?>]+)/i.exec(aor.trim());
  if (!sip) return aor.trim().toLowerCase();
  let user = sip[2] ?? '';
  try {
    user = decodeURIComponent(user);
  } catch {
    // kept as written
  }
  return `sip:${user}@${sip[3].toLowerCase()}`;
}
