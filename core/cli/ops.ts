/**
 * The operator's verbs on a running server: `routr status`, `routr trace`, `routr console`. They read the
 * read-only operations API (core/console/api.ts) with the token client.ts finds, so on the server's machine
 * they need no flags. Exit codes: 0 done, 1 the server refused or the call is unknown, 2 usage.
 */
import { parseArgs, onSignal, writeStderr, writeStdout } from '../runtime/process.js';
import type { Ladder } from '../trace/ladder.js';
import { renderLadder } from '../trace/ladder.js';
import type { TraceSummary } from '../trace/ring.js';
import { CLIENT_OPTIONS, noTokenMessage, resolveClient, type Client } from './client.js';
import { UsageError } from './usage.js';

interface Answer {
  status: number;
  body: unknown;
}

export function client(values: { url?: string; token?: string; config?: string }): Client {
  const c = resolveClient(values);
  if (!c.token) throw new UsageError(noTokenMessage(c));
  return c;
}

export async function get(c: Client, path: string): Promise<Answer> {
  let res: Response;
  try {
    res = await fetch(`${c.url}/api/v1/${path}`, { headers: { authorization: `Bearer ${c.token}`, accept: 'application/json' } });
  } catch (err) {
    throw new Error(`cannot reach routr at ${c.url}: ${((err as Error).cause as Error | undefined)?.message ?? (err as Error).message}`);
  }
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) };
  } catch {
    return { status: res.status, body: { error: `HTTP ${res.status}: ${text.slice(0, 200)}` } };
  }
}

export function refused(answer: Answer): number {
  writeStderr(`routr: the server answered ${answer.status}: ${(answer.body as { error?: string }).error ?? 'error'}\n`);
  return 1;
}

// ---- status ---------------------------------------------------------------------------------------------

interface Status {
  version: string;
  server: string;
  role: string;
  uptimeSeconds: number;
  ready: boolean;
  reasons: string[];
  bus: { kind: string | null; status: string; url: string | null };
  edge: { ref: string; listening: Array<{ transport: string; host: string; port: number }>; pending: number; transactions: { server: number; client: number } } | null;
  host: { ref: string; processors: Array<{ ref: string; kind: string; plugin: string; version: string; state: string; calls: number; failures: number }> } | null;
  edges: Array<{ edge: string; calls: number; messages: number; bytes: number; maxBytes: number }>;
  counts: { registrations: number; callsInProgress: number; resources: Record<string, number> };
  http: { bindAddr: string | null; api: string; tokenFile: string | null };
}

export async function runStatus(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, strict: true, options: { ...CLIENT_OPTIONS, json: { type: 'boolean', default: false } } });
  if (positionals.length) throw new UsageError(`status takes no argument (got ${positionals.join(' ')})`);
  const answer = await get(client(values), 'status');
  if (answer.status !== 200) return refused(answer);
  const s = answer.body as Status;
  if (values.json) {
    writeStdout(JSON.stringify(s, null, 2) + '\n');
    return 0;
  }
  const mib = (n: number) => (n / 1048576).toFixed(n < 1048576 ? 2 : 1);
  const lines: Array<[string, string]> = [
    ['routr', `${s.version} · server ${s.server} · role ${s.role} · up ${duration(s.uptimeSeconds)} · ${s.ready ? 'ready' : `NOT READY: ${s.reasons.join('; ')}`}`],
    ['bus', `${s.bus.kind ?? 'none'} (${s.bus.status})${s.bus.url ? ` ${s.bus.url}` : ''}`],
  ];
  if (s.edge) {
    const lps = s.edge.listening.map((l) => `${l.transport} ${l.host}:${l.port}`).join(', ');
    lines.push(['edge', `${s.edge.ref}: ${lps} · ${s.edge.transactions.server} server / ${s.edge.transactions.client} client transactions, ${s.edge.pending} waiting for a decision`]);
  }
  if (s.host) {
    lines.push(['host', `${s.host.ref}`]);
    for (const p of s.host.processors) lines.push(['', `${p.kind === 'processor' ? 'processor' : `${p.kind} middleware`} ${p.ref}: ${p.plugin}@${p.version}, ${p.state}, ${p.calls} calls, ${p.failures} failures`]);
  }
  const kinds = Object.entries(s.counts.resources).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`).join(', ') || 'none';
  lines.push(['counts', `${s.counts.registrations} registrations · ${s.counts.callsInProgress} calls in progress · resources: ${kinds}`]);
  for (const e of s.edges) lines.push(['traces', `${e.edge}: ${e.calls} calls, ${e.messages} messages, ${mib(e.bytes)} of ${mib(e.maxBytes)} MiB`]);
  lines.push(['api', `${s.http.api}, listening on ${s.http.bindAddr}${s.http.tokenFile ? ` (generated token in ${s.http.tokenFile})` : ''}`]);
  for (const [key, text] of lines) writeStdout(`${key.padEnd(8)}${text}\n`);
  return s.ready ? 0 : 1;
}

function duration(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

// ---- trace ----------------------------------------------------------------------------------------------

export async function runTrace(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      ...CLIENT_OPTIONS,
      full: { type: 'boolean', default: false },
      follow: { type: 'boolean', short: 'f', default: false },
      list: { type: 'boolean', short: 'l', default: false },
      limit: { type: 'string', default: '20' },
      json: { type: 'boolean', default: false },
      utc: { type: 'boolean', default: false },
    },
  });
  const render = { full: values.full, utc: values.utc };
  if (values.follow || values.list) {
    if (positionals.length) throw new UsageError(`--${values.follow ? 'follow' : 'list'} takes no Call-ID`);
    const c = client(values);
    return values.follow ? follow(c, render) : list(c, Number(values.limit));
  }
  if (positionals.length !== 1) throw new UsageError('trace needs one Call-ID (or --list, --follow)');
  const c = client(values);
  const answer = await get(c, `traces/${encodeURIComponent(positionals[0])}`);
  if (answer.status === 404) {
    writeStderr(`routr: ${(answer.body as { error?: string }).error ?? 'no such call'}\n`);
    return 1;
  }
  if (answer.status !== 200) return refused(answer);
  if (values.json) {
    writeStdout(JSON.stringify(answer.body, null, 2) + '\n');
    return 0;
  }
  writeStdout(renderLadder((answer.body as { ladder: Ladder }).ladder, render));
  return 0;
}

async function list(c: Client, limit: number): Promise<number> {
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError('--limit must be a positive whole number');
  const answer = await get(c, `traces?limit=${limit}`);
  if (answer.status !== 200) return refused(answer);
  const calls = (answer.body as { calls: TraceSummary[] }).calls;
  if (calls.length === 0) {
    writeStdout('the trace rings are empty\n');
    return 0;
  }
  const rows = calls.map((t) => [new Date(t.last).toLocaleTimeString(undefined, { hour12: false }), t.edge, String(t.status ?? '-'), String(t.messages), t.callId, t.request]);
  const header = ['LAST', 'EDGE', 'FINAL', 'MSGS', 'CALL-ID', 'FIRST REQUEST'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  for (const row of [header, ...rows]) writeStdout(row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ') + '\n');
  return 0;
}

/** Tail calls: a line when one starts, its ladder when it ends. Runs until interrupted. */
async function follow(c: Client, render: { full: boolean; utc: boolean }): Promise<number> {
  const abort = new AbortController();
  onSignal('SIGINT', () => abort.abort());
  onSignal('SIGTERM', () => abort.abort());
  let res: Response;
  try {
    res = await fetch(`${c.url}/api/v1/events?types=call.started,call.ended`, { headers: { authorization: `Bearer ${c.token}`, accept: 'text/event-stream' }, signal: abort.signal });
  } catch (err) {
    throw new Error(`cannot reach routr at ${c.url}: ${((err as Error).cause as Error | undefined)?.message ?? (err as Error).message}`);
  }
  if (res.status !== 200 || !res.body) return refused({ status: res.status, body: await res.json().catch(() => ({})) });
  writeStderr(`following calls on ${c.url} (Ctrl-C stops)\n`);
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
        if (!data) continue;
        const event = JSON.parse(data) as { type: string; callId: string; from?: string; to?: string; routingType?: string | null; cause?: string; status?: number | null; edge?: string };
        if (event.type === 'call.started') {
          writeStdout(`▶ ${event.callId} started at ${event.edge}: ${event.from} → ${event.to}${event.routingType ? ` (${event.routingType})` : ''}\n`);
          continue;
        }
        writeStdout(`■ ${event.callId} ended: ${event.cause}${event.status ? ` ${event.status}` : ''}\n`);
        const trace = await get(c, `traces/${encodeURIComponent(event.callId)}`);
        if (trace.status === 200) writeStdout(renderLadder((trace.body as { ladder: Ladder }).ladder, render) + '\n');
      }
    }
  } catch (err) {
    if (!abort.signal.aborted) throw err;
  }
  return 0;
}

// ---- console --------------------------------------------------------------------------------------------

export async function runConsole(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, strict: true, options: CLIENT_OPTIONS });
  if (positionals.length) throw new UsageError(`console takes no argument (got ${positionals.join(' ')})`);
  const c = client(values);
  writeStdout(`${c.url}/console/?token=${encodeURIComponent(c.token as string)}\n`);
  return 0;
}
