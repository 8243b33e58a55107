/**
 * Answers for carriers' challenges, on hosts: an edge whose forwarded request (a target with `auth: { trunk }`,
 * or an in-dialog request of such a call) got a 401/407 asks here (`routr.v1.trunks.authorize`, the hosts' queue
 * group) and gets back the Authorization or Proxy-Authorization value made with the Trunk's outbound credentials.
 * Passwords never leave the hosts, and a Trunk's credentials answer only challenges from that Trunk's own
 * addresses — its outbound URIs (host and port) and its inbound host, as named before DNS or as resolved — so neither a
 * plugin naming the wrong Trunk nor a caller steering an in-dialog request elsewhere can make routr answer a
 * stranger's challenge with them (a relayed digest would let the stranger place calls on the account).
 */
import { digestAnswer } from '../auth/digest-client.js';
import { HOSTS_QUEUE, TRUNK_AUTH_SUBJECT } from '../bus/subjects.js';
import type { Bus, Subscription } from '../bus/types.js';
import type { TrunkAuthReply, TrunkAuthRequest } from '../envelope.js';
import type { Logger } from '../log.js';
import { uriHost } from '../resources/addresses.js';
import type { ResourceSet } from '../resources/set.js';
import type { AuthHeader } from '../sip/types.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The answer to one challenge, or why there is none. */
export function answerTrunkChallenge(set: ResourceSet, ask: TrunkAuthRequest): TrunkAuthReply {
  if (typeof ask?.trunk !== 'string' || (ask.status !== 401 && ask.status !== 407) || typeof ask.method !== 'string' || typeof ask.uri !== 'string' || !Array.isArray(ask.challenges)) {
    return { refused: 'malformed request' };
  }
  const trunk = set.get('Trunk', ask.trunk);
  if (!trunk) return { refused: `no Trunk "${ask.trunk}"` };
  const ref = trunk.spec.outbound?.credentialsRef;
  const credentials = ref ? set.get('Credentials', ref)?.spec.credentials : undefined;
  if (!credentials) return { refused: `Trunk ${trunk.ref} has no outbound credentials` };
  if (!isTrunkAddress(set, trunk.ref, ask.destination)) {
    return { refused: `${ask.destination?.uriHost ?? '?'} (${ask.destination?.host ?? '?'}:${ask.destination?.port ?? '?'}) is not an address of Trunk ${trunk.ref}` };
  }
  const challenges = ask.challenges.filter((c): c is AuthHeader => c !== null && typeof c === 'object' && typeof c.scheme === 'string' && c.params !== null && typeof c.params === 'object');
  const value = digestAnswer({ challenges, method: ask.method, uri: ask.uri, username: credentials.username, password: credentials.password });
  if (!value) return { refused: 'no digest challenge routr can answer' };
  return { header: ask.status === 401 ? 'Authorization' : 'Proxy-Authorization', value };
}

/**
 * Whether a challenged request went to Trunk `ref`: one of its outbound URIs (host, as named or as resolved, and
 * port — the URI's, else the transport's default), or its inbound host on any port (the carrier's signalling
 * address, where in-dialog requests towards it go).
 */
export function isTrunkAddress(set: ResourceSet, ref: string, destination: TrunkAuthRequest['destination'] | undefined): boolean {
  const trunk = set.get('Trunk', ref);
  if (!trunk || !destination) return false;
  const hosts = [bare(destination.uriHost), bare(destination.host)];
  const outbound = (trunk.spec.outbound?.uris ?? []).some(({ uri }) => {
    const port = uri.port ?? (uri.transport === 'tls' || uri.transport === 'wss' ? 5061 : 5060);
    return hosts.includes(bare(uri.host)) && port === destination.port;
  });
  const inbound = trunk.spec.inbound && uriHost(trunk.spec.inbound.uri);
  return outbound || (inbound !== undefined && inbound !== '' && hosts.includes(bare(inbound)));
}

function bare(host: string | undefined): string {
  return (host ?? '').replace(/^\[|\]$/g, '').toLowerCase();
}

/** Serve edges' challenge questions on the bus, in the hosts' queue group. */
export function serveTrunkAuth(bus: Bus, resources: { current(): ResourceSet }, logger: Logger): Subscription {
  return bus.serve(
    TRUNK_AUTH_SUBJECT,
    (payload) => {
      let reply: TrunkAuthReply;
      try {
        const ask = JSON.parse(decoder.decode(payload)) as TrunkAuthRequest;
        reply = answerTrunkChallenge(resources.current(), ask);
        if ('refused' in reply) logger.warn({ trunk: ask.trunk, method: ask.method, reason: reply.refused }, 'trunk challenge not answered');
      } catch {
        reply = { refused: 'not JSON' };
      }
      return encoder.encode(JSON.stringify(reply));
    },
    { queue: HOSTS_QUEUE },
  );
}
