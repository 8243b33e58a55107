/**
 * How the CLI's server verbs find the server and its token, so that on the machine routr runs on they work with
 * no flags at all:
 *
 *   url    --url, else ROUTR_URL, else the ops port of the config (`--config`, ROUTR_CONFIG, or the default
 *          config/routr.yaml) on 127.0.0.1, else http://127.0.0.1:8080
 *   token  --token, else ROUTR_API_TOKEN, else the token routr generated into its state directory: `api-token`
 *          in ROUTR_STATE_DIR, else in that config's stateDir (default `.routr` next to the config file)
 *
 * The config is only read when a flag or variable does not settle it, and a config that does not load is
 * ignored here (the server would refuse it anyway; its state directory is still looked for next to it).
 */
import { readTokenFile, TOKEN_FILE } from '../api/token.js';
import { loadServerConfigFile, STATE_DIR, type ServerConfig } from '../config/server.js';
import { packagePath } from '../paths.js';
import { dirname, existsSync, join, resolve } from '../runtime/files.js';
import { env, writeStderr, writeStdout } from '../runtime/process.js';

export interface ClientFlags {
  url?: string;
  token?: string;
  config?: string;
}

export interface Client {
  url: string;
  token: string | undefined;
  /** Where the token came from, for messages. */
  tokenSource: 'flag' | 'env' | 'file' | 'none';
  /** The state-directory token file looked at (found or not). */
  tokenFile: string | undefined;
}

/** The parseArgs options every server verb takes. */
export const CLIENT_OPTIONS = { url: { type: 'string' }, token: { type: 'string' }, config: { type: 'string', short: 'c' } } as const;

export function resolveClient(flags: ClientFlags): Client {
  const configFile = flags.config ? resolve(flags.config) : env('ROUTR_CONFIG') ? resolve(env('ROUTR_CONFIG') as string) : packagePath('config', 'routr.yaml');
  let config: ServerConfig | null | undefined;
  const loaded = (): ServerConfig | null => {
    if (config !== undefined) return config;
    try {
      config = existsSync(configFile) ? loadServerConfigFile(configFile) : null;
    } catch {
      config = null;
    }
    return config;
  };
  const url = (flags.url ?? env('ROUTR_URL') ?? urlOf(loaded()) ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
  if (flags.token) return { url, token: flags.token, tokenSource: 'flag', tokenFile: undefined };
  const fromEnv = env('ROUTR_API_TOKEN');
  if (fromEnv) return { url, token: fromEnv, tokenSource: 'env', tokenFile: undefined };
  const stateDir = env('ROUTR_STATE_DIR') ? resolve(env('ROUTR_STATE_DIR') as string) : (loaded()?.spec.stateDir ?? join(dirname(configFile), STATE_DIR));
  let token: string | undefined;
  try {
    token = readTokenFile(stateDir);
  } catch {
    token = undefined; // unreadable (another user's file): as if absent, and the message says where we looked
  }
  return { url, token, tokenSource: token ? 'file' : 'none', tokenFile: join(stateDir, TOKEN_FILE) };
}

/** What to tell someone whose command found no token. */
export function noTokenMessage(client: Client): string {
  return `no API token: pass --token, set ROUTR_API_TOKEN, or run this on the server's machine as a user who can read ${client.tokenFile ?? 'its state directory'} (written at the first start when spec.http.apiToken is not set)`;
}

function urlOf(config: ServerConfig | null): string | undefined {
  if (!config || !config.spec.http.enabled) return undefined;
  const bind = config.spec.http.bindAddr;
  const host = !bind || bind === '0.0.0.0' || bind === '::' ? '127.0.0.1' : bind.includes(':') ? `[${bind}]` : bind;
  return `${config.spec.http.tls ? 'https' : 'http'}://${host}:${config.spec.http.port}`;
}

/** One JSON call to `/api/v1<path>`: the parsed answer, or `{error}` when the server cannot be reached or answers no JSON. */
export async function apiCall(c: { url: string; token: string | undefined }, method: string, path: string, body?: unknown): Promise<{ ok: boolean; body: unknown }> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (c.token) headers.authorization = `Bearer ${c.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(`${c.url}/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    const cause = (err as { cause?: { message?: string } }).cause?.message;
    return { ok: false, body: { error: `cannot reach routr at ${c.url}: ${cause ?? (err as Error).message}` } };
  }
  const text = await res.text();
  try {
    return { ok: res.ok, body: JSON.parse(text) };
  } catch {
    return { ok: false, body: { error: `HTTP ${res.status}: ${text.slice(0, 200)}` } };
  }
}

/** Print a refusal's error and details on standard error; exit code 1. */
export function printRefusal(body: unknown): number {
  const { error, details } = body as { error?: string; details?: string[] };
  writeStderr(`routr: ${[error ?? 'failed', ...(details ?? []).map((d) => `  ${d}`)].join('\n')}\n`);
  return 1;
}

/** Print a value as indented JSON; exit code 0. */
export function printJson(value: unknown): number {
  writeStdout(JSON.stringify(value, null, 2) + '\n');
  return 0;
}
