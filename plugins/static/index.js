// The static processor: routes by the Request-URI user part against an ordered table from config.
// It runs inside the routr sandbox: no imports, no Node APIs; only `routr.log` (its manifest capability).
//
// config:
//   routes:
//     - user: "^1\d{3}$"                 # regex tested against the Request-URI user ("" when there is none)
//       target: "sip:127.0.0.1:5070"     # new Request-URI; the user is kept unless the target names one
//     - user: "^9"
//       respond: { status: 403, reason: "No outbound calls" }
//   default: { status: 404 }             # when no route matches
//
// In-dialog requests (To tag) that still carry a Route header, or whose Request-URI is not this server,
// follow the route set unchanged (RFC 3261 16.6); only requests addressed to us are looked up in the table.

const URI = /^(sips?):(?:([^@;?]*)@)?([^;?]+)(.*)$/;

function parse(uri) {
  const m = URI.exec(uri);
  return m ? { scheme: m[1], user: m[2] ?? '', hostport: m[3], rest: m[4] } : undefined;
}

function isUs(request, hostport) {
  const host = hostport.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  const port = Number((/:(\d+)$/.exec(hostport) ?? [])[1] ?? 5060);
  const hosts = new Set([...request.advertisedAddrs, ...request.listeningPoints.map((lp) => lp.host), '127.0.0.1', 'localhost']);
  return hosts.has(host) && request.listeningPoints.some((lp) => lp.port === port);
}

function compile(routes) {
  return routes.map((r) => ({ ...r, pattern: new RegExp(r.user ?? '.*') }));
}

/** Percent-decode a URI user; a stray % (RFC 4475 esc02.dat) is kept as written rather than failing. */
function unescapeUser(user) {
  try {
    return decodeURIComponent(user);
  } catch {
    return user;
  }
}

let table;

export function isValid(request) {
  return typeof request.message.uri === 'string';
}

export function doProcess(request, { config }) {
  table ??= compile(config.routes ?? []);
  const message = request.message;
  const uri = parse(message.uri);
  const inDialog = message.headers.to.params.tag !== undefined;
  if (request.method === 'OPTIONS' && uri && uri.user === '' && isUs(request, uri.hostport)) {
    return { action: 'respond', status: 200, headers: { Allow: 'INVITE, ACK, BYE, CANCEL, OPTIONS' } };
  }
  if ((inDialog || request.method === 'ACK') && (message.headers.route?.length || (uri && !isUs(request, uri.hostport)))) {
    return { action: 'forward' };
  }
  const user = uri ? unescapeUser(uri.user) : '';
  for (const route of table) {
    if (!route.pattern.test(user)) continue;
    if (route.respond) return { action: 'respond', status: route.respond.status, reason: route.respond.reason };
    const target = parse(route.target);
    const rewritten = target && target.user === '' && user !== '' ? `${target.scheme}:${uri.user}@${target.hostport}${target.rest}` : route.target;
    return { action: 'forward', targets: [{ uri: rewritten }] };
  }
  const fallback = config.default ?? { status: 404 };
  return { action: 'respond', status: fallback.status, reason: fallback.reason };
}
