/**
 * HEP3 export (`spec.edge.hep: { host, port }`): every SIP message the edge sends or receives, copied to a
 * Homer or sngrep (`sngrep -L udp:0.0.0.0:9060`) collector over UDP, Call-ID as the correlation id and
 * credentials redacted like in the trace. Written by hand because HEP3 is a dozen type-length-value chunks
 * (HEP3 draft, "Chunk types") and the npm encoders for it are unmaintained. Fire and forget: a collector that is
 * down costs a failed datagram, nothing else.
 */
import ipaddr from 'ipaddr.js';
import { dgram } from '../runtime/net.js';
import type { HostPort } from '../envelope.js';
import type { TransportName } from '../sip/types.js';

const encoder = new TextEncoder();

const CHUNK = {
  family: 0x0001,
  protocol: 0x0002,
  srcIp4: 0x0003,
  dstIp4: 0x0004,
  srcIp6: 0x0005,
  dstIp6: 0x0006,
  srcPort: 0x0007,
  dstPort: 0x0008,
  seconds: 0x0009,
  micros: 0x000a,
  protocolType: 0x000b,
  agentId: 0x000c,
  payload: 0x000f,
  correlation: 0x0011,
} as const;

export interface HepMessage {
  src: HostPort;
  dst: HostPort;
  transport: TransportName;
  /** Epoch milliseconds. */
  at: number;
  callId: string;
  text: string;
}

/** One HEP3 packet for `message`; null when an address is not an IP literal (nothing to put in the chunk). */
export function encodeHep3(message: HepMessage, agentId = 0): Uint8Array | null {
  let src: ipaddr.IPv4 | ipaddr.IPv6;
  let dst: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    src = ipaddr.process(message.src.host);
    dst = ipaddr.process(message.dst.host);
  } catch {
    return null;
  }
  const v6 = src.kind() === 'ipv6' || dst.kind() === 'ipv6';
  if (v6 && src.kind() === 'ipv4') src = (src as ipaddr.IPv4).toIPv4MappedAddress();
  if (v6 && dst.kind() === 'ipv4') dst = (dst as ipaddr.IPv4).toIPv4MappedAddress();
  const payload = encoder.encode(message.text);
  const correlation = encoder.encode(message.callId);
  const seconds = Math.floor(message.at / 1000);
  const micros = Math.floor((message.at - seconds * 1000) * 1000);
  const chunks: Array<[number, Uint8Array]> = [
    [CHUNK.family, u8(v6 ? 10 : 2)],
    [CHUNK.protocol, u8(message.transport === 'udp' ? 17 : 6)],
    [v6 ? CHUNK.srcIp6 : CHUNK.srcIp4, Uint8Array.from(src.toByteArray())],
    [v6 ? CHUNK.dstIp6 : CHUNK.dstIp4, Uint8Array.from(dst.toByteArray())],
    [CHUNK.srcPort, u16(message.src.port)],
    [CHUNK.dstPort, u16(message.dst.port)],
    [CHUNK.seconds, u32(seconds)],
    [CHUNK.micros, u32(micros)],
    [CHUNK.protocolType, u8(1)], // SIP
    [CHUNK.agentId, u32(agentId)],
    [CHUNK.payload, payload],
    [CHUNK.correlation, correlation],
  ];
  const length = 6 + chunks.reduce((n, [, value]) => n + 6 + value.byteLength, 0);
  if (length > 0xffff) return null;
  const packet = new Uint8Array(length);
  const view = new DataView(packet.buffer);
  packet.set(encoder.encode('HEP3'), 0);
  view.setUint16(4, length);
  let at = 6;
  for (const [type, value] of chunks) {
    view.setUint16(at, 0); // vendor: generic
    view.setUint16(at + 2, type);
    view.setUint16(at + 4, 6 + value.byteLength);
    packet.set(value, at + 6);
    at += 6 + value.byteLength;
  }
  return packet;
}

function u8(n: number): Uint8Array {
  return Uint8Array.of(n);
}

function u16(n: number): Uint8Array {
  const b = new Uint8Array(2);
  new DataView(b.buffer).setUint16(0, n);
  return b;
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0);
  return b;
}

/** Sends HEP3 packets to one collector over UDP. */
export class HepExporter {
  readonly #socket: ReturnType<typeof dgram.createSocket>;
  readonly #target: HostPort;
  readonly #agentId: number;

  constructor(target: HostPort, options: { agentId?: number } = {}) {
    this.#target = target;
    this.#agentId = options.agentId ?? 0;
    this.#socket = dgram.createSocket(ipaddr.IPv6.isValid(target.host) ? 'udp6' : 'udp4');
    this.#socket.on('error', () => {});
    this.#socket.unref();
  }

  send(message: HepMessage): void {
    const packet = encodeHep3(message, this.#agentId);
    if (!packet) return;
    this.#socket.send(packet, this.#target.port, this.#target.host, () => {});
  }

  close(): void {
    try {
      this.#socket.close();
    } catch {
      // already closed
    }
  }
}
