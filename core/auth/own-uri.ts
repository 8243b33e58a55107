/**
 * Whether a URI names routr itself, as the edge that sent a request describes itself in the envelope
 * (listening points and advertised addresses): a digest answer's `uri` may be such a URI instead of the
 * Request-URI (sipp writes the proxy's address there). The edge's EdgeIdentity answers the same question for
 * routing; this is the host's copy of it (the host cannot import the edge), kept to hosts and ports. An edge
 * bound to a wildcard address is taken to own this machine's interface addresses.
 */
import type { ListeningPoint } from '../envelope.js';
import { networkInterfaces } from '../runtime/process.js';
import { parseUri } from '../sip/index.js';

let interfaceAddresses: string[] | undefined;

function localAddresses(): string[] {
  interfaceAddresses ??= Object.values(networkInterfaces()).flatMap((entries) => (entries ?? []).map((e) => e.address.toLowerCase()));
  return interfaceAddresses;
}

function bare(host: string): string {
  return (host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host).toLowerCase();
}

export class OwnAddresses {
  readonly #hosts = new Set<string>();
  readonly #ports = new Set<number>();

  constructor(listeningPoints: readonly ListeningPoint[], advertisedAddrs: readonly string[]) {
    for (const host of advertisedAddrs) this.#hosts.add(bare(host));
    for (const lp of listeningPoints) {
      this.#ports.add(lp.port);
      if (lp.host === '0.0.0.0' || lp.host === '::') {
        for (const address of localAddresses()) this.#hosts.add(address);
        this.#hosts.add('localhost');
      } else this.#hosts.add(bare(lp.host));
    }
  }

  isOwnUri(uri: string): boolean {
    const parsed = parseUri(uri);
    if (!parsed || !this.#hosts.has(bare(parsed.host))) return false;
    const secure = parsed.scheme === 'sips' || /^tls$/i.test(parsed.params.transport ?? '');
    return this.#ports.has(parsed.port ?? (secure ? 5061 : 5060));
  }
}
