/**
 * The message tap: what the edge's transports call for every SIP message in and out, feeding the trace ring,
 * the `trace`-level message log (`"msg":"sip in"|"sip out"`; spec.logging.sipTrace, Routr v1's traceLevel) and
 * the HEP3 exporter — each only when configured. With none of them there is
 * no tap at all (`messageTap` returns undefined), so the edge pays one property check per message. With the
 * ring alone a message costs a Call-ID scan of its bytes and a copy; decoding and redaction happen only for the
 * log and HEP, which need text.
 */
import type { HostPort } from '../envelope.js';
import type { Logger } from '../log.js';
import type { TransportName } from '../sip/types.js';
import type { HepExporter } from './hep.js';
import { redactSip, scanCallId } from './redact.js';
import type { TraceRing } from './ring.js';

export type MessageTap = (dir: 'in' | 'out', data: Uint8Array, remote: HostPort & { transport: TransportName }, local: HostPort) => void;

export interface TapOptions {
  ring?: TraceRing;
  /** Every message is logged at `trace` on it, when that level is on. */
  logger?: Logger;
  hep?: HepExporter;
}

const decoder = new TextDecoder();
/** Longest message text logged; larger bodies are cut (the headers, which a trace is read for, come first). */
const MAX_LOGGED_CHARS = 16_384;

export function messageTap(options: TapOptions): MessageTap | undefined {
  const { ring, hep } = options;
  const logger = options.logger?.isLevelEnabled('trace') ? options.logger : undefined;
  if (!ring && !logger && !hep) return undefined;
  return (dir, data, remote, local) => {
    const callId = scanCallId(data);
    if (callId === undefined) return; // keepalives and garbage: nothing to file them under
    ring?.add(callId, { dir, transport: remote.transport, local, remote, data });
    if (!logger && !hep) return;
    const text = redactSip(decoder.decode(data));
    const logged = text.length > MAX_LOGGED_CHARS ? text.slice(0, MAX_LOGGED_CHARS) : text;
    logger?.trace({ direction: dir, transport: remote.transport, peer: `${remote.host}:${remote.port}`, local: `${local.host}:${local.port}`, callId, bytes: data.byteLength, message: logged }, `sip ${dir}`);
    hep?.send({ src: dir === 'in' ? remote : local, dst: dir === 'in' ? local : remote, transport: remote.transport, at: Date.now(), callId, text });
  };
}
