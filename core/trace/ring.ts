/**
 * The trace ring: the last messages of the most recent calls one edge saw, in and out, kept in memory so an
 * operator can draw a call's ladder after the fact (`routr trace <call-id>`, the console). Bounded twice:
 * `messagesPerCall` per Call-ID (the oldest of a call go first) and `maxBytes` in all (whole calls go, least
 * recently active first, by the CLOCK approximation). Sizes are the bytes kept plus a fixed overhead per entry, so the bound holds to
 * within that estimate.
 *
 * `add` is on the edge's message path: it keeps a copy of the bytes and the addresses it was given, nothing
 * decoded. Decoding and redaction (redact.ts) happen when someone reads a trace.
 */
import type { HostPort } from '../envelope.js';
import type { TransportName } from '../sip/types.js';
import { redactSip } from './redact.js';

/** A message as `add` takes it: where it went or came from, and its bytes (copied). */
export interface CapturedMessage {
  dir: 'in' | 'out';
  transport: TransportName;
  local: HostPort;
  remote: HostPort;
  data: Uint8Array;
}

/** One SIP message as the edge sent or received it. */
export interface TraceMessage {
  /** Epoch milliseconds, with sub-millisecond precision. */
  at: number;
  dir: 'in' | 'out';
  transport: TransportName;
  /** The edge's listening point, `host:port`. */
  local: string;
  /** The peer, `host:port`. */
  remote: string;
  /** The message, credentials redacted. */
  text: string;
}

/** What the host decided for one request of the call. */
export interface TraceDecision {
  at: number;
  method: string;
  cseq: number;
  /** forward, respond, or error (the edge answered itself: no host, host failure). */
  action: 'forward' | 'respond' | 'error';
  processor: string | null;
  host: string | null;
  routingType: string | null;
  /** The tenant the decision named (decision metadata `tenant`, set by Connect), when it named one. */
  tenant?: string | null;
  /** forward: the first target's URI (null: routed as it stood); respond/error: the status. */
  target: string | null;
  status: number | null;
  /** Milliseconds from asking to the answer. */
  ms: number;
}

export interface CallTrace {
  callId: string;
  edge: string;
  messages: TraceMessage[];
  decisions: TraceDecision[];
  /** Messages of this call pushed out by messagesPerCall. */
  dropped: number;
}

export interface TraceSummary {
  callId: string;
  edge: string;
  first: number;
  last: number;
  messages: number;
  /** The first request line seen, e.g. `INVITE sip:1002@sip.local SIP/2.0`. */
  request: string;
  /** The latest final status of that request's method (INVITE: 407, then 200), null while none. */
  status: number | null;
  /** The tenant the host's decisions named, null when none did. */
  tenant: string | null;
}

export interface TraceRingOptions {
  edge: string;
  /** Memory for all calls together, in bytes (estimated); default 16 MiB. */
  maxBytes?: number;
  /** Messages kept per Call-ID; default 100. */
  messagesPerCall?: number;
}

/** Estimated bytes of an entry besides its text: the object, its numbers and the two address strings. */
// Measured (node --expose-gc, heap + array buffers): an entry, its own ArrayBuffer and the array slot ≈ 300 bytes.
const MESSAGE_OVERHEAD = 300;
const DECISION_OVERHEAD = 240;
const CALL_OVERHEAD = 200;

interface Entry {
  at: number;
  dir: 'in' | 'out';
  transport: TransportName;
  local: HostPort;
  host: string;
  port: number;
  data: Uint8Array;
}

interface CallRecord {
  callId: string;
  entries: Entry[];
  decisions: TraceDecision[];
  dropped: number;
  bytes: number;
  /** Used since eviction last passed it (CLOCK). */
  used: boolean;
  /** When its latest message or decision came. */
  lastAt: number;
}

const decoder = new TextDecoder();

export class TraceRing {
  readonly edge: string;
  readonly maxBytes: number;
  readonly messagesPerCall: number;
  readonly #calls = new Map<string, CallRecord>();
  #bytes = 0;
  #messages = 0;

  constructor(options: TraceRingOptions) {
    this.edge = options.edge;
    this.maxBytes = options.maxBytes ?? 16 * 1024 * 1024;
    this.messagesPerCall = options.messagesPerCall ?? 100;
  }

  /** Estimated bytes held now (never above maxBytes once an add returns). */
  get bytes(): number {
    return this.#bytes;
  }

  get calls(): number {
    return this.#calls.size;
  }

  get messages(): number {
    return this.#messages;
  }

  add(callId: string, message: CapturedMessage): void {
    const record = this.#touch(callId);
    const entry: Entry = {
      at: performance.timeOrigin + performance.now(),
      dir: message.dir,
      transport: message.transport,
      local: message.local,
      host: message.remote.host,
      port: message.remote.port,
      data: message.data.slice(),
    };
    record.entries.push(entry);
    record.lastAt = entry.at;
    const size = entry.data.byteLength + MESSAGE_OVERHEAD;
    record.bytes += size;
    this.#bytes += size;
    this.#messages++;
    if (record.entries.length > this.messagesPerCall) this.#shift(record);
    this.#evict(record);
  }

  note(callId: string, decision: TraceDecision): void {
    const record = this.#touch(callId);
    if (record.decisions.length >= this.messagesPerCall) return;
    record.decisions.push(decision);
    record.lastAt = Math.max(record.lastAt, decision.at);
    record.bytes += DECISION_OVERHEAD;
    this.#bytes += DECISION_OVERHEAD;
    this.#evict(record);
  }

  /** The call's messages, decoded and redacted. */
  get(callId: string): CallTrace | undefined {
    const record = this.#calls.get(callId);
    if (!record) return undefined;
    return { callId, edge: this.edge, messages: record.entries.map(render), decisions: [...record.decisions], dropped: record.dropped };
  }

  /** The most recently active calls first, at most `limit`. */
  list(limit = 50): TraceSummary[] {
    const out: TraceSummary[] = [];
    const records = [...this.#calls.values()].sort((a, b) => a.lastAt - b.lastAt);
    for (let i = records.length - 1; i >= 0 && out.length < limit; i--) {
      const r = records[i];
      if (r.entries.length === 0) continue;
      out.push({ callId: r.callId, edge: this.edge, first: r.entries[0].at, last: r.entries[r.entries.length - 1].at, messages: r.entries.length + r.dropped, ...outcome(r.entries), tenant: r.decisions.find((d) => d.tenant)?.tenant ?? null });
    }
    return out;
  }

  clear(): void {
    this.#calls.clear();
    this.#bytes = 0;
    this.#messages = 0;
  }

  /**
   * The call's record, marked as used. Eviction is the CLOCK approximation of least-recently-used: a record
   * used since eviction last passed it gets a second chance (moved to the end) instead of going. That keeps the
   * message path to one Map lookup; moving every touched record to the end cost a Map delete and insert (with
   * the Call-ID hashed afresh) per message.
   */
  #touch(callId: string): CallRecord {
    let record = this.#calls.get(callId);
    if (record) {
      record.used = true;
    } else {
      record = { callId, entries: [], decisions: [], dropped: 0, bytes: CALL_OVERHEAD + callId.length, used: false, lastAt: 0 };
      this.#bytes += record.bytes;
      this.#calls.set(callId, record);
    }
    return record;
  }

  /** Drop whole calls, least recently active first, until under maxBytes (`keep` last: it may alone exceed it). */
  #evict(keep: CallRecord): void {
    if (this.#bytes <= this.maxBytes) return;
    // Each record is passed at most twice (once to clear its mark, once to go), so this ends.
    for (const [callId, record] of this.#calls) {
      if (this.#bytes <= this.maxBytes) return;
      if (record === keep) continue;
      this.#calls.delete(callId);
      if (record.used) {
        record.used = false;
        this.#calls.set(callId, record);
        continue;
      }
      this.#bytes -= record.bytes;
      this.#messages -= record.entries.length;
    }
    // One call larger than the whole budget: trim it from the front.
    while (this.#bytes > this.maxBytes && keep.entries.length > 1) this.#shift(keep);
  }

  #shift(record: CallRecord): void {
    const old = record.entries.shift() as Entry;
    const freed = old.data.byteLength + MESSAGE_OVERHEAD;
    record.bytes -= freed;
    this.#bytes -= freed;
    this.#messages--;
    record.dropped++;
  }
}

function render(entry: Entry): TraceMessage {
  return {
    at: entry.at,
    dir: entry.dir,
    transport: entry.transport,
    local: hostPort(entry.local.host, entry.local.port),
    remote: hostPort(entry.host, entry.port),
    text: redactSip(decoder.decode(entry.data)),
  };
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The call's first request line, and the latest final status to that request's method. */
function outcome(entries: Entry[]): { request: string; status: number | null } {
  let request = '';
  let method = '';
  let status: number | null = null;
  for (const entry of entries) {
    const head = decoder.decode(entry.data.subarray(0, Math.min(entry.data.length, 2048)));
    if (!head.startsWith('SIP/2.0 ')) {
      if (!request) {
        request = head.slice(0, head.indexOf('\r\n') >>> 0);
        method = request.slice(0, request.indexOf(' '));
      }
      continue;
    }
    const code = Number(head.slice(8, 11));
    if (method && code >= 200 && cseqMethod(head) === method) status = code;
  }
  return { request, status };
}

/** The method of a message's CSeq header (`CSeq: 2 INVITE` → INVITE). */
function cseqMethod(text: string): string | undefined {
  return /^cseq[ \t]*:[ \t]*\d+[ \t]+([^\s]+)/im.exec(text)?.[1];
}
