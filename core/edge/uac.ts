/**
 * Requests routr originates itself — a REGISTER to a carrier, an OPTIONS probe to a trunk or a Peer — sent by
 * the edge because the edge owns the transaction layer. Whoever needs one (the trunk registration client and
 * the prober, on hosts: core/trunks) asks over the bus (`routr.v1.uac` for any edge, `routr.v1.edge.<ref>.uac`
 * for the edge holding a client's flow) with a `UacRequest`; the edge adds its Via (and a Contact naming itself
 * when asked), sends it in a client transaction (retransmissions over UDP, timer F) and replies with the final
 * response, or with why there is none. It keeps no state beyond the transaction: challenges are answered by the
 * asker, who holds the credentials, by asking again.
 */
import type { Keyring } from '../auth/keyring.js';
import { EDGES_QUEUE, edgeSubject, UAC_SUBJECT, UAC_TOPIC } from '../bus/subjects.js';
import type { Bus, Subscription } from '../bus/types.js';
import type { ListeningPoint, UacReply, UacRequest } from '../envelope.js';
import type { Metrics } from '../metrics.js';
import { parseMessage, parseNameAddr, setHeader, stringifyMessage } from '../sip/index.js';
import type { SipRequest, SipResponse, TransportName } from '../sip/types.js';
import { mintBranch } from './dialog.js';
import { viaFor } from './forwarding.js';
import type { EdgeIdentity } from './identity.js';
import { resolveUri } from './nexthop.js';
import type { Destination } from './transport.js';
import type { TransportSet } from './transports.js';
import { ClientTransaction, type IncomingResponse } from './transactions/client.js';
import { clientKey } from './transactions/keys.js';
import type { TimerConfig } from './transactions/timers.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const TRANSPORTS = new Set<TransportName>(['udp', 'tcp', 'tls', 'ws', 'wss']);
/** Headers the edge writes itself: an asker cannot set them. */
const OWN_HEADERS = new Set(['via', 'v', 'max-forwards', 'contact', 'm', 'content-length', 'l', 'record-route', 'route']);

export interface OriginatorDeps {
  edgeRef: string;
  identity: EdgeIdentity;
  keys: Keyring;
  timers: TimerConfig;
  transports: TransportSet;
  metrics: Metrics;
  userAgent?: string;
  track(tx: ClientTransaction): void;
  untrack(tx: ClientTransaction): void;
}

export class Originator {
  readonly #deps: OriginatorDeps;

  constructor(deps: OriginatorDeps) {
    this.#deps = deps;
  }

  /** Send `ask` and resolve with its final response, or why there is none. Never rejects. */
  async send(ask: UacRequest): Promise<UacReply> {
    const edge = this.#deps.edgeRef;
    let request: SipRequest;
    let destination: Destination;
    try {
      request = buildRequest(ask);
      destination = ask.destination ? { host: ask.destination.host, port: ask.destination.port, transport: ask.destination.transport } : await resolveUri(request.uri);
    } catch (err) {
      return { failure: 'invalid', reason: (err as Error).message, edge };
    }
    const { identity, transports, keys } = this.#deps;
    const flow = transports.flowFor(destination);
    if (flow) destination.transport = flow.transport;
    const local = flow ?? identity.listeningPointFor(destination.transport, destination.host);
    if (!local) return { failure: 'transport', reason: `no ${destination.transport} transport to reach ${destination.host}`, edge };
    destination.local = local;
    let contact: string | undefined;
    if (ask.contact) {
      contact = contactUri(identity.advertisedHost(local, destination.host), local, ask.contact);
      try {
        setHeader(request, 'Contact', `<${contact}>${formatParams(ask.contact.params)}`);
      } catch (err) {
        return { failure: 'invalid', reason: `Contact: ${(err as Error).message}`, edge };
      }
    }
    if (this.#deps.userAgent && request.headers['user-agent'] === undefined) setHeader(request, 'User-Agent', this.#deps.userAgent);
    const branch = mintBranch(keys, undefined);
    request.headers.via = [viaFor(identity, destination, branch)];
    let data: Uint8Array;
    try {
      data = stringifyMessage(request);
    } catch (err) {
      return { failure: 'invalid', reason: (err as Error).message, edge };
    }
    return new Promise<UacReply>((resolve) => {
      let settled = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const settle = (reply: UacReply) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(contact && 'response' in reply ? { ...reply, contact } : reply);
      };
      const tx = new ClientTransaction({
        key: clientKey(branch, request.method),
        branch,
        request,
        data,
        destination,
        reliable: destination.transport !== 'udp',
        timers: this.#deps.timers,
        userAgent: this.#deps.userAgent,
        parsedOnly: true,
        send: (d, bytes) => transports.send(d, bytes),
        onResponse: (_t, response) => {
          if (response.status < 200) return;
          const parsed = parsedOf(response);
          if (!parsed) return settle({ failure: 'invalid', reason: `unreadable ${response.status} response`, edge });
          settle({ response: { status: parsed.status, reason: parsed.reason, headers: parsed.headers as Record<string, unknown> }, edge });
        },
        onTimeout: () => settle({ failure: 'timeout', reason: `no final answer from ${destination.host}:${destination.port}`, edge }),
        onTransportError: (_t, err) => settle({ failure: 'transport', reason: `cannot reach ${destination.host}:${destination.port} over ${destination.transport}: ${String((err as Error)?.message ?? err)}`, edge }),
        onTerminated: (t) => this.#deps.untrack(t),
      });
      if (ask.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          tx.abandon();
          settle({ failure: 'timeout', reason: `no final answer from ${destination.host}:${destination.port} within ${ask.timeoutMs} ms`, edge });
        }, ask.timeoutMs);
      }
      this.#deps.track(tx);
      this.#deps.metrics.countOut('request', request.method);
      tx.start();
    });
  }
}

/** Serve originate requests on the bus: any edge's (a queue group) and this edge's own subject. */
export function serveOriginator(bus: Bus, edgeRef: string, originator: Originator): Subscription[] {
  const handler = async (payload: Uint8Array): Promise<Uint8Array> => {
    let ask: UacRequest;
    try {
      ask = JSON.parse(decoder.decode(payload)) as UacRequest;
    } catch {
      return encoder.encode(JSON.stringify({ failure: 'invalid', reason: 'not JSON', edge: edgeRef } satisfies UacReply));
    }
    return encoder.encode(JSON.stringify(await originator.send(ask)));
  };
  return [bus.serve(UAC_SUBJECT, handler, { queue: EDGES_QUEUE }), bus.serve(edgeSubject(edgeRef, UAC_TOPIC), handler)];
}

/** The SIP request an ask describes: its Request-URI and headers, Max-Forwards 70; Via comes when it is sent. */
function buildRequest(ask: UacRequest): SipRequest {
  if (typeof ask?.method !== 'string' || typeof ask.uri !== 'string' || ask.headers === null || typeof ask.headers !== 'object') {
    throw new Error('an originate request needs method, uri and headers');
  }
  if (ask.destination && (!TRANSPORTS.has(ask.destination.transport) || !Number.isInteger(ask.destination.port) || typeof ask.destination.host !== 'string')) {
    throw new Error('destination must be {host, port, transport}');
  }
  const headers = ask.headers;
  const get = (name: string): string => {
    const value = Object.entries(headers).find(([k]) => k.toLowerCase() === name)?.[1];
    if (typeof value !== 'string') throw new Error(`${name} is required`);
    return value;
  };
  const cseq = /^\s*(\d{1,10})\s+([A-Za-z]+)\s*$/.exec(get('cseq'));
  if (!cseq || cseq[2] !== ask.method) throw new Error('CSeq must be "<number> <method>"');
  const request: SipRequest = {
    method: ask.method,
    uri: ask.uri,
    version: '2.0',
    headers: {
      via: [],
      'max-forwards': 70,
      from: parseNameAddr(get('from')),
      to: parseNameAddr(get('to')),
      'call-id': get('call-id'),
      cseq: { seq: Number(cseq[1]), method: ask.method },
    },
    content: '',
  };
  for (const [name, value] of Object.entries(headers)) {
    const key = name.toLowerCase();
    if (['from', 'f', 'to', 't', 'call-id', 'i', 'cseq'].includes(key)) continue;
    if (OWN_HEADERS.has(key)) throw new Error(`${name} is written by the edge`);
    setHeader(request, name, value);
  }
  return request;
}

/** `sip:<user>@<host>:<port>[;transport=…][;params]` for the listening point the request leaves from. */
function contactUri(host: string, local: ListeningPoint, contact: NonNullable<UacRequest['contact']>): string {
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  const scheme = local.transport === 'tls' || local.transport === 'wss' ? 'sips' : 'sip';
  const transport = local.transport === 'udp' ? '' : `;transport=${local.transport === 'wss' ? 'ws' : local.transport}`;
  return `${scheme}:${encodeUser(contact.user)}@${h}:${local.port}${transport}${formatParams(contact.uriParams)}`;
}

function encodeUser(user: string): string {
  return user.replace(/[^A-Za-z0-9\-_.!~*'()&=+$,;?/]/g, (c) => encodeURIComponent(c));
}

function formatParams(params: Record<string, string | null> | undefined): string {
  if (!params) return '';
  return Object.entries(params)
    .map(([k, v]) => (v === null ? `;${k}` : `;${k}=${v}`))
    .join('');
}

/** A final response as a parsed message: the fast path hands 2xx over spliced (without our Via), so parse that. */
function parsedOf(response: IncomingResponse): SipResponse | undefined {
  if (response.parsed) return response.parsed;
  const parsed = parseMessage(response.spliced, { datagram: true });
  if (!parsed.ok || 'method' in parsed.message) return undefined;
  return parsed.message as SipResponse;
}
