/**
 * `routr bans <verb>` and `routr acl <verb>`: the shield's ban list and access list on a running server, through
 * its management API (core/shield/api.ts).
 *
 *   bans list                           every ban, soonest to end first
 *   bans add <address> [--seconds N]    ban an address (its /64 for IPv6) on every edge (default 3600 s)
 *   bans lift <address>                 lift a ban everywhere
 *   acl get                             the configured access list and the one set through the API
 *   acl set [--allow <net>]... [--deny <net>]...   replace the API's list (merged with the configured one)
 *
 * Options: --url, --token, --config (core/cli/client.ts says how each defaults), --json.
 * Exit codes: 0 done, 1 refused or failed, 2 usage.
 */
import { parseArgs, writeStdout } from '../runtime/process.js';
import { apiCall, CLIENT_OPTIONS, noTokenMessage, printJson, printRefusal, resolveClient, type ClientFlags } from './client.js';
import { UsageError } from './usage.js';

interface Client {
  url: string;
  token: string | undefined;
  json: boolean;
}

interface BanRow {
  source: string;
  until: number;
  reason: string;
  by: string;
}

function client(values: ClientFlags & { json?: boolean }): Client {
  const resolved = resolveClient(values);
  if (!resolved.token) throw new UsageError(noTokenMessage(resolved));
  return { url: resolved.url, token: resolved.token, json: values.json ?? false };
}

const COMMON = { ...CLIENT_OPTIONS, json: { type: 'boolean', default: false } } as const;

export async function runBans(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { ...COMMON, seconds: { type: 'string' } }, allowPositionals: true, strict: true });
  const [verb, address, ...extra] = positionals;
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
  const c = client(values);
  if (verb === 'list') {
    const answer = await call(c, 'GET', '/bans');
    if (!answer.ok) return failed(answer.body);
    const { items } = answer.body as { items: BanRow[] };
    if (c.json) return print(items);
    if (items.length === 0) writeStdout('no bans\n');
    for (const b of items) writeStdout(`${b.source}  ${b.reason}  until ${new Date(b.until).toISOString()}  by ${b.by}\n`);
    return 0;
  }
  if (!address) throw new UsageError(verb ? `bans ${verb} needs an address` : 'bans needs a verb: list, add or lift');
  if (verb === 'add') {
    const seconds = values.seconds === undefined ? undefined : Number(values.seconds);
    if (seconds !== undefined && !Number.isInteger(seconds)) throw new UsageError('--seconds must be a whole number');
    const answer = await call(c, 'POST', '/bans', { address, seconds });
    if (!answer.ok) return failed(answer.body);
    const ban = answer.body as BanRow;
    if (c.json) return print(ban);
    writeStdout(`banned ${ban.source} until ${new Date(ban.until).toISOString()}\n`);
    return 0;
  }
  if (verb === 'lift') {
    const answer = await call(c, 'DELETE', `/bans/${encodeURIComponent(address)}`);
    if (!answer.ok) return failed(answer.body);
    if (c.json) return print(answer.body);
    writeStdout(`lifted ${(answer.body as { lifted: string }).lifted}\n`);
    return 0;
  }
  throw new UsageError(`unknown bans verb "${verb}"`);
}

export async function runAcl(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { ...COMMON, allow: { type: 'string', multiple: true }, deny: { type: 'string', multiple: true } },
    allowPositionals: true,
    strict: true,
  });
  const [verb, ...extra] = positionals;
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
  const c = client(values);
  let answer;
  if (verb === 'get') answer = await call(c, 'GET', '/acl');
  else if (verb === 'set') answer = await call(c, 'PUT', '/acl', { allow: values.allow ?? [], deny: values.deny ?? [] });
  else throw new UsageError(verb ? `unknown acl verb "${verb}"` : 'acl needs a verb: get or set');
  if (!answer.ok) return failed(answer.body);
  if (c.json) return print(answer.body);
  const { configured, api } = answer.body as Record<'configured' | 'api', { allow: string[]; deny: string[] }>;
  const line = (name: string, l: { allow: string[]; deny: string[] }) => `${name}: allow [${l.allow.join(', ')}] deny [${l.deny.join(', ')}]\n`;
  writeStdout(line('configured', configured) + line('api', api));
  return 0;
}

const call = apiCall;
const failed = printRefusal;
const print = printJson;
