/**
 * Where a request goes next (RFC 3261 16.6 steps 6-7, RFC 3263 in part): an explicit next hop from the
 * decision, else the top Route when it is a loose router, else the Request-URI. The transport comes from the
 * URI's transport parameter (sips implies TLS); a host name is resolved with SRV (when no port is given)
 * and then A/AAAA records.
 */
import { dns } from '../runtime/dns.js';
import { isIP } from '../runtime/net.js';
import { parseUri } from '../sip/index.js';
import type { SipRequest, TransportName } from '../sip/types.js';
import { SipError } from '../errors.js';
import type { Destination } from './transport.js';
import { defaultPort, uriTransport } from './identity.js';

const TRANSPORTS = new Set<TransportName>(['udp', 'tcp', 'tls', 'ws', 'wss']);

/** How long one DNS query for a next hop may take before the request is answered 503 (RFC 3263 4.3). */
export const DNS_TIMEOUT_MS = 2000;
/**
 * DNS queries in flight at once. Address lookups run on the runtime's small thread pool (libuv: 4 threads), so
 * without a cap a flood of requests naming slow domains would starve it; past the cap a request gets 503 at once.
 * A query counts until it really settles, not until its timeout, so the cap holds against hanging resolvers.
 */
export const MAX_DNS_IN_FLIGHT = 16;
let dnsInFlight = 0;

async function bounded<T>(what: string, query: () => Promise<T>): Promise<T> {
  if (dnsInFlight >= MAX_DNS_IN_FLIGHT) throw new SipError('ROUTR_SERVICE_UNAVAILABLE', `too many DNS lookups in flight (${what})`);
  dnsInFlight++;
  const pending = query();
  pending.then(
    () => dnsInFlight--,
    () => dnsInFlight--,
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SipError('ROUTR_SERVICE_UNAVAILABLE', `DNS lookup for ${what} took longer than ${DNS_TIMEOUT_MS} ms`)), DNS_TIMEOUT_MS);
  });
  try {
    return await Promise.race([pending, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The URI the request is sent towards, before DNS. */
export function nextHopUri(request: SipRequest): string {
  const top = request.headers.route?.[0];
  return top ? top.uri : request.uri;
}

export async function resolveUri(uri: string): Promise<Destination> {
  const parsed = parseUri(uri);
  if (!parsed) throw new SipError('ROUTR_UNSUPPORTED_URI_SCHEME', `cannot route to ${uri}`);
  const named = uriTransport(parsed);
  if (!TRANSPORTS.has(named as TransportName)) throw new SipError('ROUTR_SERVICE_UNAVAILABLE', `unsupported transport ${named} in ${uri}`);
  const transport = named as TransportName;
  const target = parsed.params.maddr ?? parsed.host;
  const host = target.startsWith('[') ? target.slice(1, -1) : target;
  if (isIP(host)) return { host, port: parsed.port ?? defaultPort(transport), transport };
  if (parsed.port === undefined) {
    const srv = await lookupSrv(host, transport);
    if (srv) return { ...srv, transport };
  }
  const address = await lookupHost(host);
  return { host: address, port: parsed.port ?? defaultPort(transport), transport, serverName: host };
}

async function lookupSrv(host: string, transport: TransportName): Promise<{ host: string; port: number; serverName: string } | undefined> {
  const service = transport === 'tls' || transport === 'wss' ? '_sips._tcp' : transport === 'udp' ? '_sip._udp' : '_sip._tcp';
  try {
    const records = await bounded(`${service}.${host}`, () => dns.resolveSrv(`${service}.${host}`));
    if (records.length === 0) return undefined;
    records.sort((a, b) => a.priority - b.priority || b.weight - a.weight);
    const best = records[0];
    // RFC 5922 4.1: the certificate names the domain of the URI, not the SRV target (either is accepted in
    // practice; the domain is what SNI carries).
    return { host: await lookupHost(best.name), port: best.port, serverName: host };
  } catch {
    return undefined;
  }
}

async function lookupHost(host: string): Promise<string> {
  try {
    const { address } = await bounded(host, () => dns.lookup(host));
    return address;
  } catch (err) {
    // RFC 3263 4.3: a target that does not resolve cannot be reached; 16.9 makes that a 503-equivalent.
    throw new SipError('ROUTR_SERVICE_UNAVAILABLE', `cannot resolve ${host}`, { cause: err });
  }
}
