// The Connect processor: routr's SIP Connect mode. It is the registrar for Agents and Peers and routes every
// new request by who sends it (the caller) and what its Request-URI names (the callee). It runs in the routr
// sandbox: no imports, no Node APIs, only the `routr` capabilities its manifest lists.
//
//   caller (how it is known)              callee (Request-URI)                 type            answers
//   ------------------------------------  -----------------------------------  --------------  -------------------------
//   Trunk (inbound host = sender host     a Number of that Trunk (user part)   from-pstn       403 ACL / Number of
//     or Request-URI host)                  → its aorLink's bindings                              another Trunk, 407 digest,
//                                                                                                  404 no Number, 480 no binding
//   Peer (From user = username, or        an AOR (or Number's aorLink) with    peer-to-agent   403 ACL, 407 digest,
//     From URI = its aor)                   bindings                                             480 our own, unregistered
//                                         anything else: the Number of the     peer-to-pstn    404 no Number or rule
//                                           From user, else an egress rule
//   Agent (From host = a Domain)          a Peer (its aor, or username@domain) agent-to-peer   403 ACL, 407 digest,
//                                           + X-Connect-Token (JWT) claims                       403 token/claims, 480
//                                         an Agent of the caller's Domain      agent-to-agent  480 no binding
//                                         the first egress rule that matches   agent-to-pstn   404 nothing matches
//   anyone else                                                                                403
//
// REGISTER: the To AOR's owner (an Agent of the To host's Domain, else a Peer by username) must pass its ACL and
// digest (401); an unknown user is challenged and then refused exactly like a wrong password, so extensions
// cannot be enumerated. OPTIONS to the server itself gets 200 (trunk keepalives). Requests inside a dialog
// (To tag) follow their route set; a BYE also ends the call's balancer session. Every new request routed loses
// Authorization, Proxy-Authorization and X-Connect-Token and gains X-Call-Direction. isValid refuses (400) a
// Request-URI that is not sip, sips or tel, and a request without From or To. Resources are read afresh on every request (they may change
// between two); only compiled egress rules are cached, keyed by their text.

const ALLOW = 'INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE, PRACK, MESSAGE, SUBSCRIBE, NOTIFY, REFER, PUBLISH, REGISTER';
/** Carries a host's signed word, from one edge to another, that a request is on its way to a binding there. */
const RELAY_HEADER = 'X-Routr-Relay';
/** How long a relay voucher is good for, in seconds (it only has to survive one hop between edges). */
const RELAY_TTL = 60;
/** Credentials meant for routr, and headers a caller must not be able to spoof. */
const STRIPPED = ['X-Connect-Token', 'X-Call-Direction', RELAY_HEADER];
/** Credential headers: the values for routr's own realms are removed from everything forwarded (see withoutOurCredentials). */
const CREDENTIAL_HEADERS = [['authorization', 'Authorization'], ['proxy-authorization', 'Proxy-Authorization']];
const WWW = { status: 401, reason: 'Unauthorized', challengeHeader: 'WWW-Authenticate', header: 'authorization' };
const PROXY = { status: 407, reason: 'Proxy Authentication Required', challengeHeader: 'Proxy-Authenticate', header: 'proxy-authorization' };

// ---------------------------------------------------------------------------------------------- contract

/** @param {import('routr/sdk').RequestEnvelope} request */
export function isValid(request) {
  const message = request.message;
  if (typeof message?.uri !== 'string' || !/^(sips?|tel):/i.test(message.uri) || !parseUri(message.uri)) return false;
  const headers = message.headers;
  return typeof headers?.from?.uri === 'string' && typeof headers?.to?.uri === 'string';
}

/**
 * How a binding is reached (config.nat, fed by spec.host.registrar.nat; Routr v1's registrarIntf): `auto` (the
 * default) the REGISTER's socket source when the registrar detected NAT (see detectNat) or the transport is
 * connection-oriented, else the Contact as registered (a third party registering a device on another port);
 * `always` the source (received/rport); `never` the Contact as registered.
 * Set per request: the processor runs synchronously, one request at a time.
 */
let natMode = 'auto';

/** @param {import('routr/sdk').RequestEnvelope} request */
export function doProcess(request, { config }) {
  natMode = config.nat ?? 'auto';
  const decision = withTenancy(() => decide(request, config));
  return decision.action === 'forward' ? withoutOurCredentials(decision, request, config) : decision;
}

function decide(request, config) {
  const message = request.message;
  const uri = /** @type {Uri} */ (parseUri(message.uri));
  if (request.method === 'OPTIONS' && uri.scheme !== 'tel' && (uri.user === '' || isUs(request, uri))) {
    return respond(200, 'OK', { Allow: ALLOW, Accept: 'application/sdp' });
  }
  if (message.headers.to.params.tag != null || request.method === 'ACK' || request.method === 'CANCEL') return inDialog(request, uri);
  if (request.method === 'REGISTER') return register(request, config);
  const relay = message.headers[RELAY_HEADER.toLowerCase()];
  if (typeof relay === 'string') return relayed(request, relay);
  return route(request, config, uri);
}

/**
 * In-dialog requests follow the route set the edge record-routed (RFC 3261 16.6). One addressed to routr itself
 * with no Route left has nowhere to go: forwarding it would loop, so it is answered 481 (an ACK is then dropped).
 * A request with a To tag that did not arrive through a Route naming this edge (the edge marks those in
 * `metadata.routedHere`) was not record-routed by us: forwarding it would let anyone skip authentication by
 * inventing a To tag (toll fraud), so it is refused, as Kamailio's "no loose route, no to-tag forwarding" does.
 */
function inDialog(request, uri) {
  if (!request.message.headers.route?.length && isUs(request, uri)) return respond(481, 'Call/Transaction Does Not Exist');
  if (request.metadata?.routedHere !== 'true' && request.method !== 'CANCEL') return respond(403, 'Not Routed Here');
  // Only now: a BYE that did not come along routr's own route set must not end anybody's balancer session.
  if (request.method === 'BYE') routr.balancer.release(request.message.headers['call-id']);
  return { action: 'forward' };
}

// ---------------------------------------------------------------------------------------------- registrar

function register(request, config) {
  const headers = request.message.headers;
  const to = parseUri(headers.to.uri);
  if (!to || to.scheme === 'tel' || to.user === '') return respond(400, 'To must be a SIP address of record');
  let owner = registrant(to, config);
  if (!aclPermits(owner.aclRef, request)) return forbidden();
  if (headerText(request, 'x-connect-token')) {
    // A web client (or an Agent) proving itself with its token instead of a digest (the seed's allowedMethods: [INVITE, REGISTER]).
    const byToken = tokenRegistrant(request, to, owner);
    if (byToken.refused) return byToken.refused;
    owner = byToken.owner;
  } else {
    const credentialsRef = owner.resource ? owner.resource.spec.credentialsRef : null;
    if (!owner.resource || credentialsRef) {
      const refused = authenticate(request, config, { realm: owner.realm, credentialsRef: credentialsRef ?? null, kind: WWW });
      if (refused) return refused;
    }
    if (!owner.resource || owner.resource.spec.enabled === false) return forbidden();
  }
  // A Peer may register into a backend group (Routr v2 spec, "Balancing Backends"): its binding joins backend:<group>.
  const group = owner.kind === 'peer' ? headerText(request, (config.backendHeader ?? 'X-Fonoster-Backend').toLowerCase()) : '';
  if (group) {
    const groupPeer = peerByAor(`backend:${group.toLowerCase()}`);
    // A Peer joins only a group of its own tenant (or one shared with it).
    if (!groupPeer || groupPeer.spec.enabled === false || !mayUse(owner.resource, groupPeer)) return forbidden('No such backend group');
    // Each member manages its own bindings in the group (maxContacts, Contact: *), not the other members'.
    owner = { ...owner, aor: `backend:${group.toLowerCase()}`, member: owner.resource.ref };
  }
  const contact = headers.contact;
  if (contact === undefined || (Array.isArray(contact) && contact.length === 0)) return registered(owner.aor); // a query
  if (contact === '*') return unregisterAll(request, owner);
  return updateBindings(request, owner, config);
}

/** `Contact: *` (RFC 3261 10.3 step 6): only with `Expires: 0`; removes every binding not newer than the request. */
function unregisterAll(request, owner) {
  const headers = request.message.headers;
  if (seconds(headers.expires) !== 0) return respond(400, 'Contact: * requires Expires: 0');
  for (const binding of ownBindings(owner)) {
    if (!isOutOfOrder(binding, headers['call-id'], headers.cseq.seq)) routr.location.unregister(owner.aor, binding.contact);
  }
  return registered(owner.aor);
}

/** RFC 3261 10.3 steps 7-8: every Contact checked first (423 changes nothing), then added, refreshed or removed. */
function updateBindings(request, owner, config) {
  const headers = request.message.headers;
  const callId = headers['call-id'];
  const cseq = headers.cseq.seq;
  const max = owner.resource.spec.maxContacts ?? config.maxContacts;
  const refused = contactProblem(headers.contact, max);
  if (refused) return respond(400, refused);
  const wanted = headers.contact.map((c) => requestedBinding(c, headers, owner.resource, config));
  if (wanted.some((w) => w.expires > 0 && w.expires < config.minExpires)) {
    return respond(423, 'Interval Too Brief', { 'Min-Expires': String(config.minExpires) });
  }
  const existing = ownBindings(owner);
  for (const w of wanted) {
    const current = existing.find((b) => b.contact === w.contact);
    // RFC 3261 10.3 step 7 allows a 500 for a REGISTER older than the binding it would change (same Call-ID, CSeq
    // not higher). That only happens when requests were reordered on the way, so the kinder answer is to leave
    // the newer binding as it is and report the current state with 200.
    if (current && isOutOfOrder(current, callId, cseq)) continue;
    if (w.expires === 0) {
      routr.location.unregister(owner.aor, w.contact);
      continue;
    }
    routr.location.register({
      aor: owner.aor, contact: w.contact, expires: w.expires, sender: request.sender, edgeRef: request.edgeRef,
      receivedOn: request.receivedOn, callId, cseq, ...(w.q !== undefined && { q: w.q }), ...(w.instance && { instance: w.instance }),
      nat: detectNat(request, w.contact), registrant: owner.resource.ref,
    });
  }
  keepAtMost(owner, max, new Set(wanted.map((w) => w.contact)));
  return registered(owner.aor);
}

/** The longest contact routr can route to: a forward decision's target URIs are at most this long. */
const MAX_CONTACT_LENGTH = 2048;

/**
 * Why a REGISTER's contacts cannot be stored, or undefined: every contact must be a sip or sips URI short enough
 * for a forward decision, and there may be no more than `max`. A binding routr could never route to would only
 * make every call to that AOR fail (and fail as the processor's fault), so it is refused here, with the reason.
 */
function contactProblem(contacts, max) {
  if (contacts.length > max) return `Too many contacts (at most ${max})`;
  for (const contact of contacts) {
    if (!/^sips?:/i.test(contact.uri)) return 'Contact must be a sip or sips URI';
    if (contact.uri.length > MAX_CONTACT_LENGTH) return `Contact longer than ${MAX_CONTACT_LENGTH} characters`;
  }
  return undefined;
}

/**
 * Who owns the AOR of a REGISTER's To: an Agent of the Domain named by the To host, else a Peer with that
 * username (whose bindings are stored under the Peer's own aor, e.g. `backend:voice`), else nobody — then the
 * realm is the To host and the request is challenged like any other, to be refused after.
 */
function registrant(to, config) {
  const domain = domainByUri(to.host);
  if (domain) {
    const agent = first(routr.resources.find('Agent', { username: to.user, domainRef: domain.ref }));
    if (agent) return { kind: 'agent', resource: agent, aor: aorOf(to.user, to.host), realm: domain.spec.context.domainUri, aclRef: domain.spec.accessControlListRef, domain };
  }
  const peer = first(routr.resources.find('Peer', { username: to.user }));
  if (peer) return { kind: 'peer', resource: peer, aor: peer.spec.aor, realm: config.peerRealm ?? to.host, aclRef: peer.spec.accessControlListRef };
  return { kind: 'none', resource: null, aor: aorOf(to.user, to.host), realm: domain ? domain.spec.context.domainUri : to.host, aclRef: domain?.spec.accessControlListRef, domain };
}

/**
 * REGISTER with an X-Connect-Token: the token (verified by the host) must allow REGISTER and its claims fit — the
 * To AOR is its `aor`, the To host its `domain` (and `domainRef`), `ref` the Agent when one owns the AOR (and no
 * other Agent's when none does), `aorLink` an existing Peer. Then the token stands in for the digest: a web client
 * with no Agent resource registers under the AOR its token names.
 */
function tokenRegistrant(request, to, owner) {
  const verdict = routr.tokens.verify(headerText(request, 'x-connect-token'));
  if (!verdict.valid) return { refused: forbidden(`X-Connect-Token refused: ${verdict.reason}`) };
  const domain = owner.domain;
  if (!domain) return { refused: forbidden('X-Connect-Token names no domain routr serves') };
  const agent = owner.kind === 'agent' ? owner.resource : null;
  if (agent && agent.spec.enabled === false) return { refused: forbidden() };
  const problem = claimProblem(verdict.claims, { method: 'REGISTER', peer: null, domain, callerAor: aorOf(to.user, domain.spec.context.domainUri), agent });
  if (problem) return { refused: forbidden(`X-Connect-Token ${problem}`) };
  const resource = agent ?? { ref: String(verdict.claims.ref), spec: {} };
  return { owner: { kind: agent ? 'agent' : 'token', resource, aor: aorOf(to.user, domain.spec.context.domainUri), realm: owner.realm, aclRef: owner.aclRef, domain } };
}

/**
 * NAT detection at registration (Kamailio's nat_uac_test, Routr v1's registrarIntf): the client is behind NAT —
 * to be reached at the REGISTER's socket source under `nat: auto` — when the transport is connection-oriented
 * (only its flow reaches it), the Contact's host is not the source address, the top Via's sent-by is not the
 * source address and port, or the Contact is private or `.invalid` while the source is not.
 */
function detectNat(request, contact) {
  const sender = request.sender;
  if (sender.transport !== 'udp') return true;
  const uri = parseUri(contact);
  const source = bare(sender.host);
  if (!uri || bare(uri.host) !== source || uri.host.endsWith('.invalid')) return true;
  const via = request.message.headers.via?.[0];
  if (via && (bare(via.host) !== source || (via.port ?? 5060) !== sender.port)) return true;
  return isPrivate(uri.host) && !isPrivate(source);
}

/** RFC 1918, RFC 6598 shared, link-local and unique-local addresses. */
function isPrivate(host) {
  const h = bare(host);
  if (/^(10\.|192\.168\.|169\.254\.)/.test(h) || /^172\.(1[6-9]|2\d|3[01])\./.test(h) || /^100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\./.test(h)) return true;
  return /^f[cd][0-9a-f]{2}:/i.test(h) || /^fe80:/i.test(h);
}

/**
 * One Contact's lifetime: its `expires` parameter, else the Expires header, else the Agent's or Peer's `expires`,
 * else config.defaultExpires; never longer than config.maxExpires or the resource's `expires` (its schema calls
 * it the longest lifetime).
 */
function requestedBinding(contact, headers, resource, config) {
  const own = resource.spec.expires;
  const asked = seconds(contact.params.expires) ?? seconds(headers.expires) ?? own ?? config.defaultExpires;
  const expires = Math.min(asked, config.maxExpires, own ?? Infinity);
  const q = contact.params.q != null && /^(0(\.\d{0,3})?|1(\.0{0,3})?)$/.test(contact.params.q) ? Number(contact.params.q) : undefined;
  const instance = contact.params['+sip.instance']?.replace(/^"|"$/g, '') || undefined;
  return { contact: contact.uri, expires, q, instance };
}

function isOutOfOrder(binding, callId, cseq) {
  return binding.callId === callId && cseq <= binding.cseq;
}

/**
 * maxContacts: drop the oldest bindings beyond the limit, this REGISTER's own contacts last. In a backend group
 * the limit is each member's, over its own bindings.
 */
function keepAtMost(owner, max, justRegistered) {
  const live = ownBindings(owner);
  if (live.length <= max) return;
  const oldestFirst = [...live].sort((a, b) => Number(justRegistered.has(a.contact)) - Number(justRegistered.has(b.contact)) || a.updatedAt - b.updatedAt);
  for (const binding of oldestFirst.slice(0, live.length - max)) routr.location.unregister(owner.aor, binding.contact);
}

/** The bindings a REGISTER may change: the AOR's, or in a backend group the member's own. */
function ownBindings(owner) {
  const live = routr.location.find(owner.aor);
  return owner.member ? live.filter((b) => b.registrant === owner.member) : live;
}

/** 200 OK listing every live binding with its remaining lifetime (RFC 3261 10.3 step 8). */
function registered(aor) {
  const bindings = routr.location.find(aor);
  const headers = { Date: new Date().toUTCString() };
  if (bindings.length > 0) headers.Contact = bindings.map((b) => `<${b.contact}>;expires=${b.expires}${b.q !== undefined ? `;q=${b.q}` : ''}`);
  return respond(200, 'OK', headers);
}

// ---------------------------------------------------------------------------------------------- routing

function route(request, config, requestUri) {
  const from = parseUri(request.message.headers.from.uri);
  const trunk = inboundTrunk(request, requestUri);
  // Routr v1's useToAsAOR: the callee is the To URI, not the Request-URI (the trunk is still known by the latter).
  const to = config.useToAsAOR ? parseUri(request.message.headers.to.uri) : undefined;
  const uri = to ?? requestUri;
  if (trunk) return fromPstn(request, config, trunk, uri);
  if (!from || from.scheme === 'tel') return forbidden();
  const peer = callerPeer(from);
  if (peer) return fromPeer(request, config, peer, { from, uri });
  const domain = domainByUri(from.host);
  if (domain) return fromAgent(request, config, domain, { from, uri });
  return forbidden();
}

/**
 * A Trunk whose inbound host is where the request came from or the host it was sent to; else a Trunk routr
 * registers with (outbound.sendRegister) when the request comes from one of its outbound hosts to the Contact
 * routr registered there (the account as user): a registered carrier calls that Contact from its registrar or SBC.
 */
function inboundTrunk(request, uri) {
  const sender = bare(request.sender.host);
  const trunks = routr.resources.list('Trunk');
  return (
    trunks.find((t) => {
      const host = t.spec.inbound && bare(hostOf(t.spec.inbound.uri));
      return host !== '' && host !== undefined && (host === sender || host === bare(uri.host));
    }) ?? trunks.find((t) => isRegisteredContact(t, sender, uri.user))
  );
}

/** Whether `user` from `sender` calls the Contact routr registers with Trunk `trunk` (registry.ts: the URI's user, else the account). */
function isRegisteredContact(trunk, sender, user) {
  const outbound = trunk.spec.outbound;
  if (outbound?.sendRegister !== true || !outbound.credentialsRef || user === '') return false;
  const account = routr.resources.get('Credentials', outbound.credentialsRef)?.spec.credentials.username;
  return outbound.uris.some((u) => u.enabled !== false && bare(u.uri.host) === sender && user === (u.uri.user ?? account));
}

function callerPeer(from) {
  const peer = from.user !== '' ? first(routr.resources.find('Peer', { username: from.user })) : null;
  return peer ?? peerByAor(aorOf(from.user, from.host));
}

function fromPstn(request, config, trunk, uri) {
  const inbound = trunk.spec.inbound;
  if (inbound && !aclPermits(inbound.accessControlListRef, request)) return forbidden();
  if (inbound?.credentialsRef) {
    const refused = authenticate(request, config, { realm: bare(hostOf(inbound.uri)), credentialsRef: inbound.credentialsRef, kind: PROXY });
    if (refused) return refused;
  }
  // A registered carrier calls the Contact routr registered (its account as user): the number is then in To.
  const to = parseUri(request.message.headers.to.uri);
  const number = didOf(request, config) ?? numberByUser(uri.user) ?? (to ? numberByUser(to.user) : null);
  if (!number) return respond(404, 'Not Found');
  // A carrier delivers only its own numbers: a Number of another Trunk arriving here is refused, which keeps the
  // tenants of one routr apart.
  if (number.spec.trunkRef !== trunk.ref) return forbidden();
  callerIs(number, trunk);
  const location = number.spec.location;
  const add = extraHeaders(location.extraHeaders);
  const options = { type: 'from-pstn', add, affinity: affinityOf(request, number) };
  if (number.spec.next) return toBackend(request, number.spec.next, options);
  if (!location.aorLink) return respond(404, 'Not Found');
  return forwardToAor(request, location.aorLink, options);
}

/**
 * A Number's `next` (Routr v2 spec, "Directing Request to a Backend"): the call goes to the backend group
 * `backend:<backend>`, balanced over its members, or with `aorLink` to one specific instance of it (a member's
 * contact, else that AOR). `ref` names what the backend should run for it (a conference room, a voice app), sent
 * as X-Backend-Ref.
 */
function toBackend(request, next, options) {
  const add = next.ref ? { ...options.add, 'X-Backend-Ref': next.ref } : options.add;
  const group = `backend:${String(next.backend).toLowerCase()}`;
  const peer = peerByAor(group);
  if (next.aorLink) {
    const member = routr.location.find(group).find((b) => sameAor(b.contact, next.aorLink) && !routr.health.isDown({ aor: group, contact: b.contact }));
    if (member) return forward([bindingTarget(member, request)], { ...options, add });
    return forwardToAor(request, next.aorLink, { ...options, add });
  }
  if (!peer) return respond(404, 'Not Found');
  return forwardToPeer(request, peer, { ...options, add });
}

function fromPeer(request, config, peer, { from, uri }) {
  if (!aclPermits(peer.spec.accessControlListRef, request)) return forbidden();
  if (peer.spec.credentialsRef) {
    const refused = authenticate(request, config, { realm: config.peerRealm ?? from.host, credentialsRef: peer.spec.credentialsRef, kind: PROXY });
    if (refused) return refused;
  }
  if (peer.spec.enabled === false) return forbidden();
  callerIs(peer);
  // peer-to-agent: the callee has bindings (a Number's aorLink, or the Request-URI as an AOR).
  const number = reachable(numberByUser(uri.user));
  const options = number ? { type: 'peer-to-agent', affinity: affinityOf(request, number), add: extraHeaders(number.spec.location.extraHeaders) } : { type: 'peer-to-agent' };
  for (const aor of [number?.spec.location.aorLink, uri.scheme === 'tel' ? undefined : aorOf(uri.user, uri.host)]) {
    if (!aor) continue;
    const callee = peerByAor(aor);
    if (callee) return forwardToPeer(request, callee, options);
    if (routr.location.find(aor).length > 0) return forwardToAor(request, aor, options);
  }
  // One of our own Numbers or Agents that is not registered now: sending it out would come back in from the PSTN.
  if (number?.spec.location.aorLink || (uri.scheme !== 'tel' && agentByAor(aorOf(uri.user, uri.host)))) return respond(480, 'Temporarily Unavailable');
  // peer-to-pstn: out through the Number the Peer presents as caller id, else the first egress rule that matches.
  const egress = reachable(numberByUser(from.user)) ?? firstEgress(routr.resources.list('Domain').filter(mayReach), uri.user);
  if (!egress) return respond(404, 'Not Found');
  return toPstn(request, egress, { type: 'peer-to-pstn', dialed: uri.rawUser, privacy: false });
}

function fromAgent(request, config, domain, { from, uri }) {
  if (!aclPermits(domain.spec.accessControlListRef, request)) return forbidden();
  callerIs(domain);
  const agent = first(routr.resources.find('Agent', { username: from.user, domainRef: domain.ref }));
  const callee = calleeOfAgent(request, domain, uri);
  const context = { domain, callerAor: aorOf(from.user, domain.spec.context.domainUri) };
  // A web client with no Agent resource behind it authenticates with its token alone, and may only reach Peers.
  if (!agent && callee.kind === 'peer' && headerText(request, 'x-connect-token')) return agentToPeer(request, callee.peer, { ...context, agent: null });
  if (config.authenticateCallers && (!agent || agent.spec.credentialsRef)) {
    const realm = domain.spec.context.domainUri;
    const refused = authenticate(request, config, { realm, credentialsRef: agent?.spec.credentialsRef ?? null, kind: PROXY });
    if (refused) return refused;
  }
  if (!agent || agent.spec.enabled === false) return forbidden();
  switch (callee.kind) {
    case 'peer':
      return agentToPeer(request, callee.peer, { ...context, agent });
    case 'agent':
      if (!callee.enabled) return respond(404, 'Not Found');
      return forwardToAor(request, callee.aor, { type: 'agent-to-agent', remove: ['P-Asserted-Identity'] });
    case 'pstn':
      return toPstn(request, callee.number, { type: 'agent-to-pstn', dialed: uri.rawUser, privacy: agent.spec.privacy === 'PRIVATE' });
    default:
      return respond(404, 'Not Found');
  }
}

/**
 * What an Agent's Request-URI names, in order: a Peer (its aor, or its username at the caller's Domain or at
 * routr), an Agent of the caller's Domain (at any host), a number an egress rule of the Domain sends out.
 * An Agent of the Domain is never dialled out, even when disabled.
 */
function calleeOfAgent(request, domain, uri) {
  const domainUri = domain.spec.context.domainUri.toLowerCase();
  const local = uri.host === domainUri || isUs(request, uri);
  const byUsername = uri.user !== '' && local ? first(routr.resources.find('Peer', { username: uri.user })) : null;
  const peer = (uri.scheme === 'tel' ? null : peerByAor(aorOf(uri.user, uri.host))) ?? byUsername;
  if (peer && peer.spec.enabled !== false && mayReach(peer)) return { kind: 'peer', peer };
  const agent = uri.user !== '' ? first(routr.resources.find('Agent', { username: uri.user, domainRef: domain.ref })) : null;
  if (agent) return { kind: 'agent', aor: aorOf(uri.user, domainUri), enabled: agent.spec.enabled !== false };
  const number = firstEgress([domain], uri.user);
  if (number) return { kind: 'pstn', number };
  return { kind: 'none' };
}

/**
 * agent-to-peer: the X-Connect-Token must verify and its claims fit this request (claimProblem). A caller with no
 * Agent resource (a web client) is let through on its token alone.
 */
function agentToPeer(request, peer, { domain, callerAor, agent }) {
  const token = headerText(request, 'x-connect-token');
  if (!token) return forbidden('X-Connect-Token required');
  const verdict = routr.tokens.verify(token);
  if (!verdict.valid) return forbidden(`X-Connect-Token refused: ${verdict.reason}`);
  const claims = verdict.claims;
  const problem = claimProblem(claims, { method: request.method, peer, domain, callerAor, agent });
  if (problem) return forbidden(`X-Connect-Token ${problem}`);
  const set = String(claims.privacy).toUpperCase() === 'PRIVATE' ? { Privacy: 'id' } : {};
  return forwardToPeer(request, peer, { type: 'agent-to-peer', set, remove: ['P-Asserted-Identity'] });
}

/** The claims of the seed's example payload: every one is required. */
const CLAIMS = ['ref', 'domainRef', 'aor', 'aorLink', 'domain', 'privacy', 'allowedMethods'];

/**
 * Why a token's claims do not fit, or undefined. Every claim is required and checked: `allowedMethods` holds the
 * method; `domainRef` and `domain` are the caller's Domain; `aor` is the caller (the REGISTER's To); `aorLink` is
 * the Peer called (for REGISTER: a Peer that exists); `privacy` is PRIVATE or NONE; `ref` is the calling Agent —
 * and with no Agent behind the caller, no Agent's ref at all (a token cannot borrow an Agent's name).
 */
function claimProblem(claims, { method, peer, domain, callerAor, agent }) {
  const missing = CLAIMS.find((claim) => claims[claim] === undefined || claims[claim] === null || claims[claim] === '');
  if (missing) return `lacks the ${missing} claim`;
  if (!Array.isArray(claims.allowedMethods) || !claims.allowedMethods.includes(method)) return `does not allow ${method}`;
  if (String(claims.domainRef) !== domain.ref) return 'is for another domainRef';
  if (String(claims.domain).toLowerCase() !== domain.spec.context.domainUri.toLowerCase()) return 'is for another domain';
  if (!sameAor(String(claims.aor), callerAor)) return 'is for another aor';
  if (peer ? !sameAor(String(claims.aorLink), peer.spec.aor) : !peerByAor(String(claims.aorLink))) return 'is for another aorLink';
  if (!['PRIVATE', 'NONE'].includes(String(claims.privacy).toUpperCase())) return 'has a privacy claim other than PRIVATE or NONE';
  if (agent ? String(claims.ref) !== agent.ref : routr.resources.get('Agent', String(claims.ref)) !== null) return 'is for another ref';
  return undefined;
}

// ---------------------------------------------------------------------------------------------- forwarding

/**
 * To the bindings of `aor`: newest first, each a target the edge tries in turn (the next on 408, 5xx or no
 * answer), so a stale registration costs a retry rather than the call. A Peer's aor is load-balanced instead.
 */
function forwardToAor(request, aor, options) {
  const peer = peerByAor(aor);
  if (peer) return forwardToPeer(request, peer, options);
  const owner = agentByAor(aor);
  if (owner && (owner.spec.enabled === false || !reach(owner))) return respond(404, 'Not Found');
  const bindings = routr.location.find(aor);
  if (bindings.length === 0) return respond(480, 'Temporarily Unavailable');
  return forward(bindings.map((b) => bindingTarget(b, request)), options);
}

/**
 * A Peer's bindings through the balancer (round-robin or least-sessions; with session affinity, the Number's
 * sessionAffinityHeader value or the Call-ID keeps related requests on one contact). The chosen contact goes
 * first and the others follow as failover. A Peer with no live binding but a fixed `contactAddr` goes there.
 */
function forwardToPeer(request, peer, options) {
  if (peer.spec.enabled === false || !reach(peer)) return respond(404, 'Not Found');
  const registered = routr.location.find(peer.spec.aor);
  if (registered.length === 0) {
    if (peer.spec.contactAddr) return forward([{ uri: `sip:${peer.spec.username}@${peer.spec.contactAddr}` }], options);
    return respond(480, 'Temporarily Unavailable');
  }
  // Contacts the probes marked down are left out of balancing and failover until they answer again.
  const bindings = registered.filter((b) => !routr.health.isDown({ aor: peer.spec.aor, contact: b.contact }));
  if (bindings.length === 0) return respond(480, 'Temporarily Unavailable');
  const balancing = peer.spec.loadBalancing ?? {};
  const algorithm = balancing.algorithm ?? 'round-robin';
  const affinity = affinityFor(request, balancing, { ...options, group: peer.spec.aor.toLowerCase().startsWith('backend:') });
  const chosen = routr.balancer.pick({ group: peer.ref, algorithm, candidates: bindings.map((b) => b.contact), affinity });
  const ordered = [...bindings.filter((b) => b.contact === chosen), ...bindings.filter((b) => b.contact !== chosen)];
  return forward(ordered.map((b) => bindingTarget(b, request)), options);
}

/**
 * The balancer's session key. With session affinity: the Number's sessionAffinityHeader value, else the Call-ID.
 * Without: for least-sessions, and for every backend group (the Routr v2 spec binds a call's Call-ID to the backend
 * its first request went to), the Call-ID of an INVITE; none otherwise. Only keyed sessions are counted, and they
 * end with the call (BYE, a failed or cancelled INVITE: the host hears call.ended), so requests that open no
 * dialog must not open sessions that never end.
 */
function affinityFor(request, balancing, options) {
  const callId = request.message.headers['call-id'];
  if (balancing.withSessionAffinity) return options.affinity ?? callId;
  return (balancing.algorithm === 'least-sessions' || options.group) && request.method === 'INVITE' ? callId : null;
}

/**
 * The contact as Request-URI, sent to the socket address the REGISTER came from (NAT-safe; the edge reuses a
 * TCP/TLS/WS flow it holds to it). A binding made through another edge is reached through that edge, which holds
 * the flow (A → EP1 → EP2 → B, Routr v2 "Passing multiple EdgePorts"): the request goes to the listening point the
 * REGISTER arrived on, with a voucher signed by the cluster's secret that the host deciding for EP2 checks instead
 * of authenticating the caller again (see `relayed`). Edges bound to a wildcard address, or bindings made over
 * WebSocket (an edge opens no WebSocket connections), are reached directly.
 */
function bindingTarget(binding, request) {
  const { host, port, transport } = binding.sender;
  const via = binding.receivedOn;
  // Over a connection the flow is the way in; if it has closed, the edge falls back to the Contact (nextHop.flow).
  const direct = viaSource(binding) ? { uri: binding.contact, nextHop: { host, port, transport, ...(transport !== 'udp' && { flow: true }) } } : { uri: binding.contact };
  if (binding.edgeRef === request.edgeRef || !via || isWildcard(via.host) || !['udp', 'tcp', 'tls'].includes(via.transport)) return direct;
  const expires = Math.floor(Date.now() / 1000) + RELAY_TTL;
  const signature = routr.auth.sign(relayText(request.message.headers['call-id'], binding.aor, binding.contact, expires));
  return {
    uri: binding.contact,
    nextHop: { host: via.host, port: via.port, transport: via.transport },
    headers: { set: { [RELAY_HEADER]: `${expires} ${binding.aor} ${signature}` } },
  };
}

/** Whether to reach a binding at the REGISTER's socket source rather than its Contact (see natMode). */
function viaSource(binding) {
  if (natMode === 'never') return false;
  if (natMode !== 'auto' || binding.sender.transport !== 'udp') return true;
  if (typeof binding.nat === 'boolean') return binding.nat;
  // A binding stored before the registrar recorded its NAT verdict: the Contact's host against the source's.
  const contact = parseUri(binding.contact);
  return !contact || bare(contact.host) !== bare(binding.sender.host);
}

function relayText(callId, aor, contact, expires) {
  return `relay\n${callId}\n${aor}\n${contact}\n${expires}`;
}

function isWildcard(host) {
  return host === '0.0.0.0' || host === '::' || host === '[::]';
}

/**
 * A request another host sent to this edge for a binding this edge holds (see `bindingTarget`): the voucher must be
 * signed with the cluster's secret for this Call-ID, AOR and contact, and fresh; then the request goes to the
 * binding's flow, keeping the routing type the first host found. Anything else with the header is refused.
 */
function relayed(request, voucher) {
  const [expires, aor, signature] = voucher.trim().split(/\s+/);
  const contact = request.message.uri;
  const callId = request.message.headers['call-id'];
  if (!expires || !aor || !signature || Number(expires) < Date.now() / 1000) return forbidden();
  if (!routr.auth.verifySigned(relayText(callId, aor, contact, expires), signature)) return forbidden();
  const binding = routr.location.find(aor).find((b) => b.contact === contact && b.edgeRef === request.edgeRef);
  if (!binding) return respond(480, 'Temporarily Unavailable');
  relayedTo(aor);
  const direction = request.message.headers['x-call-direction'];
  return forward([bindingTarget(binding, request)], { type: typeof direction === 'string' ? direction : 'relayed' });
}

/**
 * Out through a Number's Trunk: its enabled outbound URIs by priority (lower first), then weight (higher first),
 * one target each with the dialled user; P-Asserted-Identity carries the Number, Privacy: id hides it on request.
 */
function toPstn(request, number, { type, dialed, privacy }) {
  if (!reach(number)) return respond(404, 'Not Found');
  const trunk = usedTrunk(number);
  const enabled = (trunk?.spec.outbound?.uris ?? [])
    .filter((u) => u.enabled !== false)
    .sort((a, b) => (a.priority ?? 10) - (b.priority ?? 10) || (b.weight ?? 10) - (a.weight ?? 10));
  if (enabled.length === 0) return respond(503, 'No Outbound Trunk');
  // URIs the probes marked down are skipped until they answer again (core/trunks/probes.ts).
  const uris = enabled.filter(({ uri }) => !routr.health.isDown({ trunk: trunk.ref, host: uri.host, port: uri.port, transport: uri.transport ?? 'udp' }));
  if (uris.length === 0) return respond(503, 'Trunk Unavailable', { 'Retry-After': '30' });
  const callerId = number.spec.location.telUrl.replace(/^tel:/i, '');
  // With outbound credentials, the carrier's 401/407 is answered by routr with them (the caller never sees it).
  const auth = trunk.spec.outbound.credentialsRef ? { trunk: trunk.ref } : undefined;
  const targets = uris.map(({ uri }) => ({
    uri: `sip:${dialed}@${hostPort(uri.host, uri.port)}${uri.transport ? `;transport=${uri.transport}` : ''}`,
    headers: { set: { 'P-Asserted-Identity': `<sip:${callerId}@${hostPort(uri.host)}>` } },
    ...(auth && { auth }),
  }));
  return forward(targets, { type, set: privacy ? { Privacy: 'id' } : {} });
}

/**
 * The forward decision: routr's own credentials and spoofable headers removed, X-Call-Direction added. A
 * Privacy header the caller wrote is left alone (RFC 3323: it is the user's request); routr only adds one.
 */
function forward(targets, { type, remove = [], set = {}, add = {} }) {
  const headers = { remove: [...STRIPPED, ...remove], add: { ...add, 'X-Call-Direction': type } };
  if (Object.keys(set).length > 0) headers.set = set;
  return { action: 'forward', targets, headers };
}

/**
 * Credentials leave with the request that carried them: Authorization and Proxy-Authorization values for one of
 * routr's realms (a Domain's URI, peerRealm, a Trunk's inbound host, the From host of a Peer caller) are removed
 * from every request routr forwards — initial and in-dialog alike — so a callee never sees a caller's digest
 * response (an offline dictionary attack on the password). Values for other realms (a carrier challenging the
 * call) go on, as RFC 3261 22.3 expects of a proxy.
 */
function withoutOurCredentials(decision, request, config) {
  const headers = request.message.headers;
  if (!CREDENTIAL_HEADERS.some(([key]) => Array.isArray(headers[key]) && headers[key].length > 0)) return decision;
  const realms = ourRealms(request, config);
  const remove = [];
  const set = {};
  for (const [key, name] of CREDENTIAL_HEADERS) {
    const values = headers[key];
    if (!Array.isArray(values) || values.length === 0) continue;
    const kept = values.filter((v) => !(typeof v?.params?.realm === 'string' && realms.has(v.params.realm.toLowerCase())));
    if (kept.length === values.length) continue;
    if (kept.length === 0) remove.push(name);
    else set[name] = kept.map(formatCredentials);
  }
  if (remove.length === 0 && Object.keys(set).length === 0) return decision;
  const edits = decision.headers ?? {};
  const merged = { ...edits, remove: [...(edits.remove ?? []), ...remove] };
  if (Object.keys(set).length > 0) merged.set = { ...(edits.set ?? {}), ...set };
  return { ...decision, headers: merged };
}

function ourRealms(request, config) {
  const realms = new Set(routr.resources.list('Domain').map((d) => d.spec.context.domainUri.toLowerCase()));
  if (config.peerRealm) realms.add(config.peerRealm.toLowerCase());
  for (const trunk of routr.resources.list('Trunk')) if (trunk.spec.inbound) realms.add(bare(hostOf(trunk.spec.inbound.uri)));
  const from = parseUri(request.message.headers.from.uri);
  if (from && from.scheme !== 'tel' && callerPeer(from)) realms.add(from.host);
  return realms;
}

/** One credentials value as written again: quoted parameters but for the RFC 7616 tokens. */
function formatCredentials(value) {
  if (value.token68) return `${value.scheme} ${value.token68}`;
  const unquoted = new Set(['algorithm', 'qop', 'nc', 'stale']);
  const params = Object.entries(value.params).map(([k, v]) => (unquoted.has(k) ? `${k}=${v}` : `${k}="${String(v).replace(/(["\\])/g, '\\$1')}"`));
  return `${value.scheme} ${params.join(', ')}`;
}

// ---------------------------------------------------------------------------------------------- checks

/**
 * Digest (RFC 3261 22): null when the credentials check out, else the answer. The host mints and checks nonces;
 * the password never enters the sandbox. `credentialsRef` null (nobody owns the identity) always ends `invalid`,
 * so an unknown user meets the same challenge and the same 403 as a wrong password.
 */
function authenticate(request, config, { realm, credentialsRef, kind }) {
  // The host reads the credentials from the envelope it holds, and answers a verdict that needs a challenge with
  // the challenge itself (one capability call).
  const verdict = routr.auth.verify({ realm, credentialsRef, header: kind.header, challenge: { algorithms: offered(config) } });
  switch (verdict.result) {
    case 'ok':
      // The host answers ok only for the named Credentials' own username and password.
      return null;
    case 'stale':
    case 'replay':
    case 'missing':
      return respond(kind.status, kind.reason, { [kind.challengeHeader]: verdict.challenge });
    default:
      routr.log.debug('digest refused', { realm, method: request.method, username: verdict.username ?? null });
      return forbidden();
  }
}

/** One challenge by default: phones that meet two (baresip 1.0) may give up instead of picking one. */
function offered(config) {
  return config.multipleChallenges ? config.algorithms : config.algorithms.slice(0, 1);
}

/** An AccessControlList on the socket source (never a Via); no list lets everyone in. */
function aclPermits(aclRef, request) {
  return !aclRef || routr.acl.permits(aclRef, request.sender.host);
}

// ---------------------------------------------------------------------------------------------- tenants

/**
 * Tenants (README "Tenants"): `metadata.tenant` names a resource's tenant (absent: the operator's own), and
 * `metadata.sharedWith` the tenants ("*": all) that may use a Peer, Trunk or AccessControlList too. A call joins
 * a caller and a callee only when one may use the other. The set's checks already refuse references across
 * tenants; these hold the line where routing finds a callee at run time (a Peer by aor or username, an AOR's
 * Agent, a dialled Number): another tenant's is answered as if it did not exist (404). The decision names the
 * call's tenant and Trunk in its metadata, for call events, accounting and traces; set per request, like natMode.
 */
let call = { caller: null, tenant: null, trunk: null, leg: null };

function withTenancy(decide) {
  call = { caller: null, tenant: null, trunk: null, leg: null };
  const decision = decide();
  const notes = Object.entries({ tenant: call.tenant, trunk: call.trunk, leg: call.leg }).filter(([, v]) => v !== null);
  return notes.length ? { ...decision, metadata: { ...decision.metadata, ...Object.fromEntries(notes) } } : decision;
}

function tenantOf(resource) {
  const tenant = resource?.metadata?.tenant;
  return typeof tenant === 'string' ? tenant : null;
}

function sharesWith(resource, tenant) {
  const list = resource?.metadata?.sharedWith;
  return Array.isArray(list) && (list.includes('*') || (tenant !== null && list.includes(tenant)));
}

function mayUse(user, target) {
  return tenantOf(user) === tenantOf(target) || sharesWith(target, tenantOf(user));
}

/** Who places the call (the Domain of its Agent, a Peer, the Number a carrier calls): its tenant is the call's. */
function callerIs(resource, trunk) {
  call.caller = resource;
  call.tenant = tenantOf(resource);
  if (trunk) call.trunk = trunk.ref;
}

/** Whether the caller may reach `target` (one of them may use the other); no caller known: no tenancy applies. */
function mayReach(target) {
  return !call.caller || !target || mayUse(call.caller, target) || mayUse(target, call.caller);
}

function reachable(resource) {
  return resource && mayReach(resource) ? resource : null;
}

/** The callee is `target`, if the caller may reach it; a call from a shared resource belongs to the callee's tenant. */
function reach(target) {
  if (!mayReach(target)) return false;
  if (call.caller && !mayUse(call.caller, target)) call.tenant = tenantOf(target);
  return true;
}

/** The Number's Trunk, when the Number may use it (the set's checks see to it; a Trunk changed since is refused). */
function usedTrunk(number) {
  const trunk = routr.resources.get('Trunk', number.spec.trunkRef);
  if (!trunk || !mayUse(number, trunk)) return null;
  call.trunk = trunk.ref;
  return trunk;
}

/** A relayed hop (another edge's call): the binding's owner names the tenant; the first edge accounts for it. */
function relayedTo(aor) {
  call.tenant = tenantOf(peerByAor(aor) ?? agentByAor(aor));
  call.leg = 'relay';
}

// ---------------------------------------------------------------------------------------------- lookups

function domainByUri(host) {
  return host ? first(routr.resources.find('Domain', { 'context.domainUri': host })) : null;
}

/** The Agent owning `sip:user@domainUri`, if any. */
function agentByAor(aor) {
  const uri = parseUri(aor);
  const domain = uri && uri.scheme !== 'tel' && uri.user !== '' ? domainByUri(uri.host) : null;
  return domain ? first(routr.resources.find('Agent', { username: uri.user, domainRef: domain.ref })) : null;
}

/** The Peer whose aor is `aor` (SIP aors compare as user@host, others as written, case-insensitively). */
function peerByAor(aor) {
  return routr.resources.list('Peer').find((p) => sameAor(p.spec.aor, aor)) ?? null;
}

/** A Number by a dialled user part: `+19103434434`, `19103434434` or `tel:` forms, with and without the +. */
function numberByUser(user) {
  const digits = user.replace(/^tel:/i, '').replace(/[\s().-]/g, '');
  if (!/^\+?[0-9*#]+$/.test(digits)) return null;
  const bare = digits.replace(/^\+/, '');
  for (const telUrl of digits.startsWith('+') ? [`tel:+${bare}`, `tel:${bare}`] : [`tel:${bare}`, `tel:+${bare}`]) {
    const number = first(routr.resources.find('Number', { 'location.telUrl': telUrl }));
    if (number) return number;
  }
  return null;
}

/** The Number of the first egress policy (across `domains`, in order) whose rule matches the dialled user. */
function firstEgress(domains, user) {
  for (const domain of domains) {
    for (const policy of domain.spec.context.egressPolicies ?? []) {
      if (ruleOf(policy.rule)?.test(user)) return routr.resources.get('Number', policy.numberRef);
    }
  }
  return null;
}

/** Compiled egress rules by their text (resources may change; a rule's meaning does not). */
const rules = new Map();
function ruleOf(text) {
  if (!rules.has(text)) {
    if (rules.size > 1000) rules.clear();
    let compiled = null;
    try {
      compiled = new RegExp(text);
    } catch {
      routr.log.warn('egress rule is not a regular expression', { rule: text });
    }
    rules.set(text, compiled);
  }
  return rules.get(text);
}

/**
 * Routr v1's addressInfo: headers a carrier puts the dialled number in (config.didHeaders, first that names one of
 * our Numbers wins), for carriers whose Request-URI does not carry it. A value may be a number, a tel: or SIP URI.
 */
function didOf(request, config) {
  for (const name of config.didHeaders ?? []) {
    const value = headerText(request, name.toLowerCase());
    if (!value) continue;
    const uri = parseUri(value.replace(/^[^<]*<([^>]*)>.*$/, '$1'));
    const number = numberByUser(uri ? uri.user : value.split(/[;@]/)[0]);
    if (number) return number;
  }
  return null;
}

function affinityOf(request, number) {
  const name = number.spec.location.sessionAffinityHeader;
  const value = name ? headerText(request, name.toLowerCase()) : '';
  return value || undefined;
}

function extraHeaders(list = []) {
  const add = {};
  for (const { name, value } of list) add[name] = name in add ? [].concat(add[name], value) : value;
  return add;
}

// ---------------------------------------------------------------------------------------------- SIP helpers

/**
 * @typedef {{ scheme: string, user: string, rawUser: string, host: string, port?: number }} Uri
 * `user` is percent-decoded without password or user parameters (for lookups); `rawUser` is as written (for
 * building URIs). A tel: URI has its number as user and no host.
 */
/** @returns {Uri | undefined} */
function parseUri(text) {
  const sip = /^(sips?):(?:([^@]*)@)?(\[[0-9a-fA-F:.]+\]|[^:;?]+)(?::(\d+))?/i.exec(text);
  if (sip) {
    const rawUser = (sip[2] ?? '').split(':')[0];
    return { scheme: sip[1].toLowerCase(), user: decode(rawUser.split(';')[0]), rawUser, host: sip[3].toLowerCase(), port: sip[4] ? Number(sip[4]) : undefined };
  }
  const tel = /^tel:([^;?]+)/i.exec(text);
  return tel ? { scheme: 'tel', user: decode(tel[1]), rawUser: tel[1], host: '' } : undefined;
}

function decode(user) {
  try {
    return decodeURIComponent(user);
  } catch {
    return user; // a stray % is kept as written
  }
}

/** `sip:user@host`: scheme sip, lower-case host, no port or parameters (what the location store keys by). */
function aorOf(user, host) {
  return user ? `sip:${user}@${host.toLowerCase()}` : `sip:${host.toLowerCase()}`;
}

function sameAor(a, b) {
  const ua = parseUri(a);
  const ub = parseUri(b);
  if (ua && ub && ua.scheme !== 'tel' && ub.scheme !== 'tel') return ua.user === ub.user && ua.host === ub.host;
  return a.trim().toLowerCase() === b.trim().toLowerCase();
}

/** The host of `host`, `host:port`, `sip:user@host:port;params` or `[v6]:port`, lower-cased. */
function hostOf(text) {
  let rest = text.trim().replace(/^sips?:/i, '');
  rest = rest.slice(rest.lastIndexOf('@') + 1).split(/[;?]/)[0];
  if (rest.startsWith('[')) return rest.slice(0, rest.indexOf(']') + 1).toLowerCase();
  return rest.split(':')[0].toLowerCase();
}

function bare(host) {
  return (host ?? '').replace(/^\[|\]$/g, '').toLowerCase();
}

function hostPort(host, port) {
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return port ? `${h}:${port}` : h;
}

/** Whether a Request-URI names routr itself: one of its addresses, on a port it listens on. */
function isUs(request, uri) {
  if (uri.scheme === 'tel') return false;
  const hosts = new Set([...request.advertisedAddrs, ...request.listeningPoints.map((lp) => lp.host), '127.0.0.1', 'localhost'].map(bare));
  const port = uri.port ?? (uri.scheme === 'sips' ? 5061 : 5060);
  return hosts.has(bare(uri.host)) && request.listeningPoints.some((lp) => lp.port === port);
}

function seconds(value) {
  if (typeof value !== 'string' || !/^\s*\d+\s*$/.test(value)) return undefined;
  return Math.min(Number(value), 2 ** 31 - 1);
}

function headerText(request, name) {
  const value = request.message.headers[name];
  return typeof value === 'string' ? value.trim() : '';
}

function first(list) {
  return list && list.length > 0 ? list[0] : null;
}

function respond(status, reason, headers) {
  return headers ? { action: 'respond', status, reason, headers } : { action: 'respond', status, reason };
}

/**
 * 403. Refusals that must not tell their causes apart (ACL, wrong password, unknown or disabled user) all use the
 * default reason; token refusals say why (the client holds the token, there is nothing to enumerate).
 */
function forbidden(reason = 'Forbidden') {
  return respond(403, reason.replace(/[\r\n]+/g, ' ').slice(0, 120));
}
