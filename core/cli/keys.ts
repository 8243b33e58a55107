/**
 * `routr keys <verb>`: the cluster's API keys, through the management API (core/api/keys-api.ts).
 *
 *   keys create --role <role> [--tenant <t>] [--name <n>] [--expires 90d|12h|30m|3600s|never|<ISO date>]
 *   keys list                      id, name, role, tenant, state, expiry (never a secret)
 *   keys revoke <id>               refused on every node from then on
 *
 * `create` prints the key on standard output once (routr keeps only its hash); everything else goes to standard
 * error. Options: --url, --token, --config (client.ts), --json. Exit codes: 0 done, 1 refused, 2 usage.
 */
import { parseArgs, writeStderr, writeStdout } from '../runtime/process.js';
import { apiCall, CLIENT_OPTIONS, noTokenMessage, printJson as print, printRefusal as failed, resolveClient } from './client.js';
import { UsageError } from './usage.js';

interface KeyRow {
  id: string;
  name: string;
  role: string;
  tenant: string | null;
  state: string;
  createdAt: number;
  createdBy: string;
  expiresAt: number | null;
  revokedAt: number | null;
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 7 * 86_400 };

/** `90d` → seconds, `never` → 'never', an ISO date → that time; anything else is a usage error. */
export function parseExpiry(text: string): { expiresInSeconds: number } | { expires: 'never' } | { expiresAt: string } {
  if (text === 'never') return { expires: 'never' };
  const m = /^(\d+)([smhdw])$/.exec(text);
  if (m) return { expiresInSeconds: Number(m[1]) * UNITS[m[2]] };
  if (/^\d{4}-\d{2}-\d{2}/.test(text) && Number.isFinite(Date.parse(text))) return { expiresAt: new Date(text).toISOString() };
  throw new UsageError(`--expires must be like 90d, 12h, 30m, 3600s, 2w, never or an ISO date (got "${text}")`);
}

export async function runKeys(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: { ...CLIENT_OPTIONS, json: { type: 'boolean', default: false }, role: { type: 'string' }, tenant: { type: 'string' }, name: { type: 'string' }, expires: { type: 'string' } },
  });
  const [verb, id, ...extra] = positionals;
  if (extra.length) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
  const resolved = resolveClient(values);
  if (!resolved.token) throw new UsageError(noTokenMessage(resolved));
  const call = (method: string, path: string, body?: unknown) => apiCall(resolved, method, path, body);
  if (verb === 'create') {
    if (id) throw new UsageError('keys create takes no argument; use --role, --tenant, --name, --expires');
    if (!values.role) throw new UsageError('keys create needs --role admin|tenant-admin|operator|read-only');
    const body = { role: values.role, tenant: values.tenant, name: values.name, ...(values.expires ? parseExpiry(values.expires) : {}) };
    const answer = await call('POST', '/keys', body);
    if (!answer.ok) return failed(answer.body);
    const key = answer.body as KeyRow & { key: string };
    if (values.json) writeStdout(JSON.stringify(key, null, 2) + '\n');
    else writeStdout(`${key.key}\n`);
    writeStderr(`routr: key ${key.id} (${describe(key)}) created; store it now: routr keeps only its hash and cannot show it again\n`);
    return 0;
  }
  if (verb === 'list') {
    if (id) throw new UsageError('keys list takes no argument');
    const answer = await call('GET', '/keys');
    if (!answer.ok) return failed(answer.body);
    const { items } = answer.body as { items: KeyRow[] };
    if (values.json) return print(items);
    if (items.length === 0) writeStdout('no API keys\n');
    for (const k of items) writeStdout(`${k.id}  ${k.state.padEnd(7)}  ${describe(k).padEnd(28)}  ${k.name}\n`);
    return 0;
  }
  if (verb === 'revoke') {
    if (!id) throw new UsageError('keys revoke needs a key id (routr keys list shows them)');
    const answer = await call('DELETE', `/keys/${encodeURIComponent(id)}`);
    if (!answer.ok) return failed(answer.body);
    if (values.json) return print(answer.body);
    writeStdout(`revoked ${id}\n`);
    return 0;
  }
  throw new UsageError(verb ? `unknown keys verb "${verb}"` : 'keys needs a verb: create, list or revoke');
}

function describe(k: KeyRow): string {
  const expiry = k.expiresAt === null ? 'never expires' : `expires ${new Date(k.expiresAt).toISOString().slice(0, 16)}Z`;
  return `${k.role}${k.tenant ? `@${k.tenant}` : ''}, ${expiry}`;
}

