/**
 * `routr plugin <verb>`: manage plugins on a running server through its management API, or test one locally.
 *
 *   install <dir|.tgz>   pack the plugin into a bundle and install it (checked first: refused with the reason)
 *   list                 ref, version, state, calls, failures (this host's view; --json for everything)
 *   remove <ref>         drop every installed version; hosts fall back to a directory or built-in one
 *   rollback <ref>       back to the previous installed version
 *   enable <ref>         enable, and close an open circuit at once
 *   disable <ref>        disable: requests fall through to the next processor
 *   test <dir|.tgz>      run the plugin's fixtures in a real sandbox here, no server needed
 *                        (--engine auto|isolated-vm|quickjs: the sandbox engine, default auto)
 *
 * Options: --url, --token, --config (how they default: client.ts), --json.
 * Exit codes: 0 done, 1 refused or failed (the reason is printed), 2 usage.
 */
import { parseArgs, writeStderr, writeStdout } from '../runtime/process.js';
import type { PluginRow } from '../host/plugins-api.js';
import type { SyncOutcome } from '../host/host.js';
import { CLIENT_OPTIONS, noTokenMessage, resolveClient } from './client.js';
import { progress } from './progress.js';
import { UsageError } from './usage.js';

const REF_VERBS = new Set(['remove', 'rollback', 'enable', 'disable']);
const VERBS = new Set(['install', 'list', 'test', ...REF_VERBS]);

interface Client {
  url: string;
  token: string | undefined;
  json: boolean;
}

export async function runPlugin(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { ...CLIENT_OPTIONS, json: { type: 'boolean', default: false }, engine: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  const [verb, target, ...extra] = positionals;
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
  if (values.engine !== undefined && verb !== 'test') throw new UsageError('--engine is for plugin test only');
  const json = values.json ?? false;
  // Loaded on use: the sandbox engine and the schemas are not needed to talk to a server.
  if (verb === 'test') {
    if (!target) throw new UsageError('plugin test needs a directory or .tgz');
    return (await import('./plugin-test.js')).runPluginTest(target, { json, engine: values.engine });
  }
  if (!verb) throw new UsageError('plugin needs a verb: install, list, remove, rollback, enable, disable or test');
  if (!VERBS.has(verb)) throw new UsageError(`unknown plugin verb "${verb}"`);
  const resolved = resolveClient(values);
  if (!resolved.token) throw new UsageError(noTokenMessage(resolved));
  const client: Client = { url: resolved.url, token: resolved.token, json };
  if (verb === 'list') {
    if (target !== undefined) throw new UsageError('plugin list takes no argument');
    return list(client);
  }
  if (!target) throw new UsageError(verb ? `plugin ${verb} needs an argument` : 'plugin needs a verb: install, list, remove, rollback, enable, disable or test');
  if (verb === 'install') return install(client, target);
  if (REF_VERBS.has(verb)) return change(client, verb, target);
  throw new UsageError(`unknown plugin verb "${verb}"`);
}

async function install(client: Client, path: string): Promise<number> {
  const steps = progress({ quiet: client.json });
  let bundle;
  try {
    steps.step(`packing ${path}`);
    bundle = (await import('./tgz.js')).bundleFromPath(path);
  } catch (err) {
    steps.done();
    return fail((err as Error).message);
  }
  const size = JSON.stringify(bundle).length;
  steps.step(`${bundle.manifest.ref}@${bundle.manifest.metadata.version}: ${(size / 1024).toFixed(1)} KiB, ${bundle.fixtures.length} fixture${bundle.fixtures.length === 1 ? '' : 's'}; sending to ${client.url}, where the host checks it and runs the fixtures in a fresh sandbox`);
  const answer = await call(client, 'POST', '', bundle);
  steps.done();
  if (!answer.ok) return failed(answer.body);
  const body = answer.body as { ref: string; version: string; applied: SyncOutcome[] };
  if (client.json) return print(body);
  writeStdout(`installed ${body.ref}@${body.version}\n`);
  return report(body.applied);
}

async function change(client: Client, verb: string, ref: string): Promise<number> {
  const answer = verb === 'remove' ? await call(client, 'DELETE', `/${encodeURIComponent(ref)}`) : await call(client, 'POST', `/${encodeURIComponent(ref)}/${verb}`);
  if (!answer.ok) return failed(answer.body);
  const body = answer.body as { ref: string; state: { history: string[] } | null; applied: SyncOutcome[] };
  if (client.json) return print(body);
  const done = { remove: 'removed', rollback: 'rolled back', enable: 'enabled', disable: 'disabled' }[verb];
  const to = verb === 'rollback' && body.state ? ` to ${body.state.history[body.state.history.length - 1]}` : '';
  writeStdout(`${done} ${body.ref}${to}\n`);
  return report(body.applied);
}

async function list(client: Client): Promise<number> {
  const answer = await call(client, 'GET', '');
  if (!answer.ok) return failed(answer.body);
  const body = answer.body as { store: string | null; storeProblem?: string; plugins: PluginRow[] };
  if (client.json) return print(body);
  const header = ['REF', 'VERSION', 'STATE', 'CALLS', 'FAILURES', 'INSTALLED', 'USED BY'];
  const rows = body.plugins.map((p) => [
    p.ref,
    p.version ?? '-',
    p.state,
    String(p.calls),
    String(p.failures),
    p.installed.length ? p.installed.join(',') : '-',
    p.entries.map((e) => (e.kind === 'processor' ? e.ref : `${e.ref}(${e.kind})`)).join(',') || '-',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  for (const row of [header, ...rows]) writeStdout(row.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd() + '\n');
  for (const p of body.plugins) for (const e of p.entries) if (e.refusal) writeStdout(`${e.ref}: last version refused: ${e.refusal}\n`);
  if (body.store === null) writeStdout(`plugin store unavailable: ${body.storeProblem ?? 'unknown'}\n`);
  return 0;
}

/** What this host did; any refusal makes the command fail, so scripts notice. */
function report(applied: SyncOutcome[]): number {
  let code = 0;
  for (const a of applied) {
    writeStdout(`  ${a.ref}: ${a.outcome}, serving ${a.plugin}@${a.version}, ${a.state}\n`);
    if (a.reason) writeStdout(`    ${a.reason.split('\n').join('\n    ')}\n`);
    if (a.outcome === 'refused') code = 1;
  }
  return code;
}

async function call(client: Client, method: string, path: string, body?: unknown): Promise<{ ok: boolean; body: unknown }> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (client.token) headers.authorization = `Bearer ${client.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(`${client.url}/api/v1/plugins${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    const cause = (err as { cause?: { message?: string } }).cause?.message;
    return { ok: false, body: { error: `cannot reach routr at ${client.url}: ${cause ?? (err as Error).message}` } };
  }
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = { error: `HTTP ${res.status}: ${text.slice(0, 200)}` };
  }
  return { ok: res.ok, body: parsed };
}

function failed(body: unknown): number {
  const { error, details } = body as { error?: string; details?: string[] };
  return fail([error ?? 'failed', ...(details ?? []).map((d) => `  ${d}`)].join('\n'));
}

function fail(message: string): number {
  writeStderr(`routr: ${message}\n`);
  return 1;
}

function print(value: unknown): number {
  writeStdout(JSON.stringify(value, null, 2) + '\n');
  return 0;
}
