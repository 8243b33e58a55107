/**
 * A call's ladder (sequence diagram), as sngrep draws one: a column per participant — the caller, each edge,
 * the callee or trunk — and a row per message, with the host's decisions noted on the edge that asked.
 * `buildLadder` turns the traces of every edge that saw the call into that model (the console draws it as SVG,
 * the CLI as text with `renderLadder`).
 *
 * Edges are one column each, whatever listening points they used; a message one edge sent to another is shown
 * once (the receiving edge's copy of it is the same bytes), and a message repeated on the same path is marked
 * as a retransmission.
 */
import type { CallTrace, TraceDecision, TraceMessage } from './ring.js';

export interface LadderColumn {
  /** `edge:<ref>` or the peer's `host:port`. */
  id: string;
  label: string;
  /** host:port (edges: every address they used, comma-separated). */
  address: string;
  kind: 'edge' | 'peer';
}

export type LadderRow =
  | { kind: 'message'; at: number; from: number; to: number; label: string; edge: string; transport: string; text: string; retransmission: boolean }
  | { kind: 'decision'; at: number; column: number; label: string };

export interface Ladder {
  callId: string;
  columns: LadderColumn[];
  rows: LadderRow[];
  /** Messages the edges no longer held (pushed out of their rings). */
  dropped: number;
}

/** How long apart two copies of one message (sent by one edge, received by another) may be stamped. */
const SAME_MESSAGE_MS = 2000;

export function buildLadder(callId: string, traces: CallTrace[]): Ladder {
  const edgeOf = new EdgeAddresses();
  for (const trace of traces) for (const m of trace.messages) edgeOf.set(m.local, trace.edge);
  const all = traces.flatMap((t) => t.messages.map((m) => ({ ...m, edge: t.edge }))).sort((a, b) => a.at - b.at);
  const shown = all.filter((m) => !(m.dir === 'in' && edgeOf.has(m.remote) && sentBy(all, m, edgeOf)));

  const columns: LadderColumn[] = [];
  const index = new Map<string, number>();
  const edgeAddresses = new Map<string, Set<string>>();
  const column = (id: string, make: () => LadderColumn): number => {
    let i = index.get(id);
    if (i === undefined) {
      i = columns.push(make()) - 1;
      index.set(id, i);
    }
    return i;
  };
  const edgeColumn = (ref: string, address: string): number => {
    const addresses = edgeAddresses.get(ref) ?? new Set();
    addresses.add(address);
    edgeAddresses.set(ref, addresses);
    return column(`edge:${ref}`, () => ({ id: `edge:${ref}`, label: ref, address, kind: 'edge' }));
  };
  const peerColumn = (address: string): number => {
    const edge = edgeOf.get(address);
    if (edge) return edgeColumn(edge, address);
    return column(address, () => ({ id: address, label: address, address, kind: 'peer' }));
  };

  const rows: LadderRow[] = [];
  const seen = new Set<string>();
  for (const m of shown) {
    // The sender's column first, so the caller (who sent the first message) is the leftmost.
    const self = () => edgeColumn(m.edge, m.local);
    const [from, to] = m.dir === 'in' ? [peerColumn(m.remote), self()] : [self(), peerColumn(m.remote)];
    const key = `${from}>${to}>${m.text}`;
    const retransmission = seen.has(key);
    seen.add(key);
    rows.push({ kind: 'message', at: m.at, from, to, label: labelOf(m.text), edge: m.edge, transport: m.transport, text: m.text, retransmission });
  }
  for (const trace of traces) {
    const at = index.get(`edge:${trace.edge}`);
    if (at === undefined) continue;
    for (const d of trace.decisions) rows.push({ kind: 'decision', at: d.at, column: at, label: decisionLabel(d) });
  }
  rows.sort((a, b) => a.at - b.at || (a.kind === 'decision' ? 1 : 0) - (b.kind === 'decision' ? 1 : 0));
  for (const [ref, addresses] of edgeAddresses) columns[index.get(`edge:${ref}`) as number].address = [...addresses].join(', ');
  namePeers(columns, traces);
  return { callId, columns, rows, dropped: traces.reduce((n, t) => n + t.dropped, 0) };
}

/**
 * Peers get a role for a name, their address staying on the second line: the leftmost is the caller (it sent
 * the first message), the others callees — `trunk` when the host routed the call to the PSTN.
 */
function namePeers(columns: LadderColumn[], traces: CallTrace[]): void {
  const toPstn = traces.some((t) => t.decisions.some((d) => d.action === 'forward' && /to-pstn$/.test(d.routingType ?? '')));
  const peers = columns.filter((c) => c.kind === 'peer');
  peers.forEach((column, i) => {
    if (i === 0) column.label = 'caller';
    else column.label = `${toPstn ? 'trunk' : 'callee'}${peers.length > 2 ? ` ${i}` : ''}`;
  });
}

/** Whether the edge at the message's remote address sent these same bytes to this edge (then it is drawn once). */
function sentBy(all: Array<TraceMessage & { edge: string }>, received: TraceMessage & { edge: string }, edgeOf: EdgeAddresses): boolean {
  const sender = edgeOf.get(received.remote);
  return all.some((m) => m.dir === 'out' && m.edge === sender && m.edge !== received.edge && m.text === received.text && Math.abs(m.at - received.at) < SAME_MESSAGE_MS);
}

/**
 * Which edge an address belongs to. An edge bound to 0.0.0.0 or :: records that as its side of a message while
 * its peers see a real address, so such an edge is known by its port alone.
 */
class EdgeAddresses {
  readonly #exact = new Map<string, string>();
  readonly #wildcard = new Map<string, string>();

  set(address: string, edge: string): void {
    const { host, port } = split(address);
    if (host === '0.0.0.0' || host === '::') this.#wildcard.set(port, edge);
    else this.#exact.set(address, edge);
  }

  get(address: string): string | undefined {
    return this.#exact.get(address) ?? this.#wildcard.get(split(address).port);
  }

  has(address: string): boolean {
    return this.get(address) !== undefined;
  }
}

function split(address: string): { host: string; port: string } {
  const colon = address.lastIndexOf(':');
  return { host: address.slice(0, colon).replace(/^\[|\]$/g, ''), port: address.slice(colon + 1) };
}

/** `INVITE`, `200 OK`, `100 Trying`; a request's CSeq method is added to responses (`200 OK (BYE)`). */
export function labelOf(text: string): string {
  const line = text.slice(0, text.indexOf('\r\n') >>> 0);
  if (line.startsWith('SIP/2.0 ')) {
    const method = /^cseq[ \t]*:[ \t]*\d+[ \t]+(\S+)/im.exec(text)?.[1];
    const status = line.slice(8);
    return method && method !== 'INVITE' ? `${status} (${method})` : status;
  }
  return line.slice(0, line.indexOf(' ') >>> 0);
}

function decisionLabel(d: TraceDecision): string {
  const who = d.processor ?? 'host';
  if (d.action === 'error') return `${d.method}: no decision, edge answered ${d.status} (${d.ms} ms)`;
  if (d.action === 'respond') return `${d.method}: ${who} → respond ${d.status} (${d.ms} ms)`;
  const parts = [`${d.method}: ${who} → forward`, d.routingType, d.target ? `to ${d.target}` : null, `(${d.ms} ms${d.host ? `, ${d.host}` : ''})`];
  return parts.filter(Boolean).join(' ');
}

export interface RenderOptions {
  /** Each message's text under its arrow. */
  full?: boolean;
  /** Width of one column in characters; default 24. */
  columnWidth?: number;
  /** Time zone for timestamps; default the local one. */
  utc?: boolean;
}

const TIME_WIDTH = 14;

/** The ladder as terminal text, sngrep style: columns with lifelines, arrows labelled with method or status. */
export function renderLadder(ladder: Ladder, options: RenderOptions = {}): string {
  const width = Math.max(12, options.columnWidth ?? 24);
  const centre = (i: number) => TIME_WIDTH + i * width + Math.floor(width / 2);
  const lineWidth = TIME_WIDTH + ladder.columns.length * width;
  const blank = () => {
    const chars = Array.from({ length: lineWidth }, () => ' ');
    for (let i = 0; i < ladder.columns.length; i++) chars[centre(i)] = '│';
    return chars;
  };
  const put = (chars: string[], at: number, text: string) => {
    for (let i = 0; i < text.length; i++) chars[at + i] = text[i];
  };
  const centred = (items: string[]) => {
    const chars = Array.from({ length: lineWidth }, () => ' ');
    items.forEach((item, i) => {
      const text = item.length > width - 1 ? item.slice(0, width - 2) + '…' : item;
      put(chars, Math.max(0, centre(i) - Math.floor(text.length / 2)), text);
    });
    return chars.join('').trimEnd();
  };
  const out: string[] = [];
  const messages = ladder.rows.filter((r) => r.kind === 'message').length;
  out.push(`Call-ID ${ladder.callId}: ${messages} messages${ladder.dropped ? ` (${ladder.dropped} older ones no longer kept)` : ''}`);
  out.push('');
  out.push(centred(ladder.columns.map((c) => c.label)));
  out.push(centred(ladder.columns.map((c) => (c.kind === 'edge' ? c.address.split(', ')[0] : c.address))));
  out.push(blank().join('').trimEnd());
  for (const row of ladder.rows) {
    const chars = blank();
    put(chars, 0, clock(row.at, options.utc));
    if (row.kind === 'decision') {
      put(chars, centre(row.column) + 2, `▸ ${row.label}`);
      out.push(chars.join('').trimEnd());
      continue;
    }
    const [a, b] = [centre(row.from), centre(row.to)];
    const label = ` ${row.label}${row.retransmission ? ' (retr.)' : ''} `;
    if (a === b) {
      put(chars, a + 1, `↺${label}`);
    } else {
      const left = Math.min(a, b);
      const right = Math.max(a, b);
      for (let x = left + 1; x < right; x++) chars[x] = '─';
      if (a < b) chars[right - 1] = '▶';
      else chars[left + 1] = '◀';
      const span = right - left - 3;
      const text = label.length > span ? label.slice(0, Math.max(0, span - 1)) + '…' : label;
      put(chars, left + 2 + Math.max(0, Math.floor((span - text.length) / 2)), text);
    }
    out.push(chars.join('').trimEnd());
    if (options.full) {
      const via = `${row.transport.toUpperCase()} ${ladder.columns[row.from].address.split(', ')[0]} → ${ladder.columns[row.to].address.split(', ')[0]} (at ${row.edge})`;
      out.push(`      ${via}`);
      for (const line of row.text.replace(/\r\n$/, '').split('\r\n')) out.push(`      ${line}`);
      out.push('');
    }
  }
  return out.join('\n') + '\n';
}

function clock(at: number, utc = false): string {
  const d = new Date(at);
  const [h, m, s, ms] = utc ? [d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds()] : [d.getHours(), d.getMinutes(), d.getSeconds(), d.getMilliseconds()];
  return `${pad(h)}:${pad(m)}:${pad(s)}.${String(ms).padStart(3, '0')}`;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}
