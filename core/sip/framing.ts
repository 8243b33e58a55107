/**
 * Cuts a TCP or TLS byte stream into SIP messages (RFC 3261 18.3) and RFC 5626 keep-alives. One framer per
 * connection: push every chunk as it arrives and act on the events, in order.
 *
 * On a stream, Content-Length is the only way to find where a message ends, so a missing, malformed or
 * ambiguous one is fatal for the connection, as is a header block or body over the configured limits: the
 * framer reports an `error` event and ignores everything after it; the edge closes the connection. What is
 * inside a message (its syntax, its sanity) is parseMessage's business, not the framer's.
 *
 * Bytes are kept in one growable buffer with a read and a write offset, so many small chunks cost amortised
 * linear time, and the search for the end of the headers resumes where the last one stopped.
 */
import { Buffer } from '../runtime/bytes.js';

export type FrameEvent =
  | { type: 'message'; data: Uint8Array }
  /**
   * RFC 5626 4.4.1: `pong: true` for a double-CRLF ping, which must be answered with a single CRLF;
   * `pong: false` for a lone CRLF (a pong, or padding between messages), which needs no answer.
   */
  | { type: 'keepalive'; pong: boolean }
  | { type: 'error'; reason: string };

export interface StreamFramerOptions {
  /** Largest header block accepted, in octets. Default 64 KiB. */
  maxHeaderBytes?: number;
  /** Largest body accepted, in octets. Default 1 MiB. */
  maxBodyBytes?: number;
  /** Largest message (header block, blank line and body) accepted, in octets. Default: no limit beyond the two above. */
  maxMessageBytes?: number;
}

/** What the framer is waiting for: nothing buffered, the rest of a header block, or the rest of a body. */
export type FramePhase = 'idle' | 'headers' | 'body';

const CR = 0x0d;
const LF = 0x0a;
const INITIAL_CAPACITY = 4096;
/** An idle connection gives back a buffer grown past this for a large message. */
const IDLE_CAPACITY = 64 * 1024;

export class StreamFramer {
  #maxHeaderBytes: number;
  readonly #maxBodyBytes: number;
  readonly #maxMessageBytes: number;
  // Allocated on the first chunk: an edge may hold many idle connections.
  #buffer = new Uint8Array(0);
  #read = 0;
  #write = 0;
  /** Where to resume looking for CRLFCRLF in the current header block. */
  #scanFrom = 0;
  /** Total length (headers + body) of the message being completed, once its header block is known. */
  #messageLength: number | undefined;
  #failed = false;

  constructor(options: StreamFramerOptions = {}) {
    this.#maxHeaderBytes = options.maxHeaderBytes ?? 64 * 1024;
    this.#maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
    this.#maxMessageBytes = options.maxMessageBytes ?? Number.POSITIVE_INFINITY;
    if (options.maxMessageBytes !== undefined) this.#maxHeaderBytes = Math.min(this.#maxHeaderBytes, options.maxMessageBytes);
  }

  get phase(): FramePhase {
    if (this.#messageLength !== undefined) return 'body';
    return this.buffered === 0 ? 'idle' : 'headers';
  }

  /** Octets held for a message not yet complete. */
  get buffered(): number {
    return this.#write - this.#read;
  }

  push(chunk: Uint8Array): FrameEvent[] {
    if (this.#failed) return [];
    this.#append(chunk);
    const events: FrameEvent[] = [];
    for (;;) {
      const event = this.#next();
      if (event === undefined) break;
      events.push(event);
      if (event.type === 'error') {
        this.#failed = true;
        this.#buffer = new Uint8Array(0);
        this.#read = this.#write = 0;
        break;
      }
    }
    return events;
  }

  #next(): FrameEvent | undefined {
    if (this.#messageLength === undefined) {
      const keepalive = this.#keepalive();
      if (keepalive !== null) return keepalive;
      const headerEnd = this.#findHeaderEnd();
      if (headerEnd < 0) {
        return this.buffered > this.#maxHeaderBytes
          ? { type: 'error', reason: `header block exceeds ${this.#maxHeaderBytes} octets` }
          : undefined;
      }
      const headerLength = headerEnd - this.#read;
      if (headerLength > this.#maxHeaderBytes) {
        return { type: 'error', reason: `header block exceeds ${this.#maxHeaderBytes} octets` };
      }
      const declared = contentLength(this.#buffer.subarray(this.#read, headerEnd));
      if (typeof declared === 'string') return { type: 'error', reason: declared };
      if (declared > this.#maxBodyBytes) {
        return { type: 'error', reason: `body of ${declared} octets exceeds ${this.#maxBodyBytes}` };
      }
      if (headerLength + 4 + declared > this.#maxMessageBytes) {
        return { type: 'error', reason: `message of ${headerLength + 4 + declared} octets exceeds ${this.#maxMessageBytes}` };
      }
      this.#messageLength = headerLength + 4 + declared;
    }
    if (this.buffered < this.#messageLength) return undefined;
    // A copy (the buffer is reused); Buffer.from draws small ones from Node's pool, a bare slice allocates anew.
    const data: Uint8Array = Buffer.from(this.#buffer.subarray(this.#read, this.#read + this.#messageLength));
    this.#read += this.#messageLength;
    this.#messageLength = undefined;
    this.#scanFrom = this.#read;
    if (this.buffered === 0 && this.#buffer.byteLength > IDLE_CAPACITY) {
      this.#buffer = new Uint8Array(0);
      this.#read = this.#write = this.#scanFrom = 0;
    }
    return { type: 'message', data };
  }

  /** A keep-alive at the head of the buffer, undefined when it is too early to tell, null when there is none. */
  #keepalive(): FrameEvent | null | undefined {
    const b = this.#buffer;
    const r = this.#read;
    if (this.buffered === 0 || b[r] !== CR) return this.buffered === 0 ? undefined : null;
    if (this.buffered < 2) return undefined;
    if (b[r + 1] !== LF) return null;
    if (this.buffered >= 4 && b[r + 2] === CR && b[r + 3] === LF) {
      this.#consume(4);
      return { type: 'keepalive', pong: true };
    }
    // "\r\n" or "\r\n\r" may still become a ping once the next octets arrive.
    if (this.buffered < 4 && (this.buffered === 2 || b[r + 2] === CR)) return undefined;
    this.#consume(2);
    return { type: 'keepalive', pong: false };
  }

  #consume(n: number): void {
    this.#read += n;
    this.#scanFrom = this.#read;
  }

  /** Index of the CRLFCRLF that ends the header block, or -1. */
  #findHeaderEnd(): number {
    const b = this.#buffer;
    const end = this.#write - 3;
    let i = Math.max(this.#scanFrom, this.#read);
    for (; i < end; i++) {
      if (b[i] === CR && b[i + 1] === LF && b[i + 2] === CR && b[i + 3] === LF) return i;
    }
    this.#scanFrom = Math.max(this.#read, i);
    return -1;
  }

  #append(chunk: Uint8Array): void {
    if (this.#write + chunk.byteLength > this.#buffer.byteLength) {
      const live = this.buffered;
      const needed = live + chunk.byteLength;
      if (needed <= this.#buffer.byteLength / 2) {
        // Enough room once consumed octets are dropped: slide the live ones to the front.
        this.#buffer.copyWithin(0, this.#read, this.#write);
      } else {
        let capacity = Math.max(INITIAL_CAPACITY, this.#buffer.byteLength * 2);
        while (capacity < needed) capacity *= 2;
        const grown = new Uint8Array(capacity);
        grown.set(this.#buffer.subarray(this.#read, this.#write));
        this.#buffer = grown;
      }
      this.#scanFrom -= this.#read;
      this.#read = 0;
      this.#write = live;
    }
    this.#buffer.set(chunk, this.#write);
    this.#write += chunk.byteLength;
  }
}

/**
 * The Content-Length of a header block (`l` is its compact form), or why it cannot frame a message. Repeated
 * equal values still frame; parseMessage rejects the duplicate (RFC 4475 mcl01) and the stream stays usable.
 */
function contentLength(block: Uint8Array): number | string {
  // Header names and the digits are ASCII; latin1 decoding is exact for them and cannot fail.
  const lines = Buffer.from(block.buffer, block.byteOffset, block.byteLength).toString('latin1').split('\r\n');
  let found: string | undefined;
  for (let i = 1; i < lines.length; i++) {
    const m = /^(content-length|l)[ \t]*:(.*)$/i.exec(lines[i]!);
    if (!m) continue;
    let value = m[2]!;
    // A folded value continues on the following lines.
    while (i + 1 < lines.length && /^[ \t]/.test(lines[i + 1]!)) value += ` ${lines[++i]}`;
    // Leading zeros are legal (parseMessage reads `0068` as 68); only the significant digits are bounded.
    value = value.trim().replace(/^0+(?=[0-9])/, '');
    if (!/^[0-9]{1,10}$/.test(value)) return `malformed Content-Length '${value.slice(0, 20)}'`;
    if (found !== undefined && +found !== +value) return 'conflicting Content-Length values';
    found = value;
  }
  if (found === undefined) return 'missing Content-Length, which a stream requires (RFC 3261 18.3)';
  return +found;
}
