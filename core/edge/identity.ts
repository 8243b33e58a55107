/**
 * Who the edge is on the wire: the addresses and ports it answers to (to recognise its own Route and
 * Request-URI values, RFC 3261 16.4) and the address it advertises in Via and Record-Route for each
 * listening point. With `advertisedAddrs` set (the edge is behind NAT) the first one is advertised to peers
 * outside `localnets`; peers inside `localnets` see the bound address.
 */
import { networkInterfaces } from '../runtime/process.js';
import ipaddr from 'ipaddr.js';
import type { ListeningPoint } from '../envelope.js';
import { parseUri } from '../sip/index.js';
import type { SipUri, TransportName } from '../sip/types.js';

export interface IdentityOptions {
  listeningPoints: ListeningPoint[];
  advertisedAddrs?: string[];
  localnets?: string[];
}

export function defaultPort(transport: TransportName): number {
  return transport === 'tls' || transport === 'wss' ? 5061 : 5060;
}

/**
 * The transport a SIP URI asks for, lower-case: its `transport` parameter, else TLS for sips and UDP for sip.
 * RFC 7118 5.2 uses `transport=ws` for WebSocket whether secure or not; with a sips URI that is WSS.
 * `transport=wss`, which many stacks write, is read as WSS too.
 */
export function uriTransport(uri: SipUri): string {
  const declared = uri.params.transport?.toLowerCase();
  if (!declared) return uri.scheme === 'sips' ? 'tls' : 'udp';
  if (declared === 'ws' && uri.scheme === 'sips') return 'wss';
  return declared;
}

export class EdgeIdentity {
  readonly listeningPoints: ListeningPoint[];
  readonly advertisedAddrs: string[];
  readonly localnets: string[];
  readonly #hosts = new Set<string>();
  readonly #ports = new Set<number>();
  readonly #ownUriCache = new Map<string, boolean>();
  readonly #localnets: Array<[ipaddr.IPv4 | ipaddr.IPv6, number]>;

  constructor(options: IdentityOptions) {
    this.listeningPoints = options.listeningPoints;
    this.advertisedAddrs = options.advertisedAddrs ?? [];
    this.localnets = options.localnets ?? [];
    this.#localnets = this.localnets.map(parseNet);
    for (const host of this.advertisedAddrs) this.#hosts.add(host.toLowerCase());
    for (const lp of this.listeningPoints) {
      this.#ports.add(lp.port);
      if (isWildcard(lp.host)) {
        for (const address of localAddresses()) this.#hosts.add(address);
        this.#hosts.add('localhost');
      } else {
        this.#hosts.add(lp.host.toLowerCase());
      }
    }
  }

  isOwnHost(host: string): boolean {
    return this.#hosts.has(stripBrackets(host).toLowerCase());
  }

  /** True when the URI names this edge (host and port), as a Route or Request-URI we put there would. */
  isOwnUri(uri: string): boolean {
    // The same few URIs recur on every request of a dialog (our Record-Route above all): remember answers,
    // keyed without routr's per-dialog signature so every dialog's Route hits the same entry.
    const key = uri.includes(';rsig=') ? uri.replace(/;rsig=[^;?>]*/, '') : uri;
    let own = this.#ownUriCache.get(key);
    if (own === undefined) {
      own = this.#isOwnUri(key);
      if (this.#ownUriCache.size >= 4096) this.#ownUriCache.clear();
      this.#ownUriCache.set(key, own);
    }
    return own;
  }

  #isOwnUri(uri: string): boolean {
    const parsed = parseUri(uri);
    if (!parsed || !this.isOwnHost(parsed.host)) return false;
    return this.#ports.has(parsed.port ?? defaultPort(uriTransport(parsed) as TransportName));
  }

  /** The listening point to send over for a transport, preferring one in the destination's address family. */
  listeningPointFor(transport: TransportName, destinationHost?: string): ListeningPoint | undefined {
    const candidates = this.listeningPoints.filter((lp) => lp.transport === transport);
    if (candidates.length <= 1 || !destinationHost) return candidates[0];
    const v6 = destinationHost.includes(':');
    return candidates.find((lp) => lp.host.includes(':') === v6) ?? candidates[0];
  }

  /** The host to write into Via / Record-Route for `lp` when talking to `peerHost`. */
  advertisedHost(lp: ListeningPoint, peerHost?: string): string {
    if (this.advertisedAddrs.length > 0 && !(peerHost && this.isLocal(peerHost))) return this.advertisedAddrs[0];
    if (!isWildcard(lp.host)) return lp.host;
    if (peerHost && isLoopback(peerHost)) return lp.host.includes(':') ? '::1' : '127.0.0.1';
    return localAddresses().find((a) => !a.includes(':')) ?? '127.0.0.1';
  }

  /** Whether `host` is in one of the configured localnets. */
  isLocal(host: string): boolean {
    if (this.#localnets.length === 0 || !ipaddr.isValid(host)) return false;
    const address = ipaddr.process(host);
    return this.#localnets.some(([net, bits]) => net.kind() === address.kind() && address.match(net, bits));
  }
}

function parseNet(cidr: string): [ipaddr.IPv4 | ipaddr.IPv6, number] {
  if (cidr.includes('/')) return ipaddr.parseCIDR(cidr);
  const address = ipaddr.parse(cidr);
  return [address, address.kind() === 'ipv4' ? 32 : 128];
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || (ipaddr.isValid(host) && ipaddr.process(host).range() === 'loopback');
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

let cachedAddresses: string[] | undefined;

/** Addresses of this machine's interfaces (read once: interfaces rarely change under a running edge). */
function localAddresses(): string[] {
  if (!cachedAddresses) {
    cachedAddresses = [];
    for (const entries of Object.values(networkInterfaces())) {
      for (const entry of entries ?? []) cachedAddresses.push(entry.address.toLowerCase());
    }
  }
  return cachedAddresses;
}
