// R3 — the Vorpal:BLADE Reductive Reasoning Router as a routr processor: selectors pull a key out of the
// request with a regular expression, translation maps look the key up, a translation may hand the request on to
// further maps (`list`), and a plan says which maps to try first. The document is R3's own JSON (README.md).
//
// It runs inside the routr sandbox: no imports and no host capabilities, plain ES2020 so every sandbox engine
// runs it. Everything is compiled once per sandbox in `init` (the host calls it when the sandbox is built, and
// again if it is ever rebuilt); a document with problems throws there, so it never serves. A request then costs
// a few regular expressions and hash lookups, and no allocation beyond the decision.
//
// Lookup costs (n entries in the map, d distinct key lengths or prefix lengths present in it):
//   hash, linked  JS Map (a hash table that also keeps insertion order)   O(1)
//   tree          keys kept sorted, binary search                         O(log n)
//   prefix        one Map per distinct key length, longest first          O(d) hash lookups, d ≤ key length
//   address       one Map per distinct prefix length and family, longest  O(d) hash lookups, d ≤ 33 (IPv4) / 129 (IPv6)
// A bit trie would answer in O(address bits) too, but costs a node per bit per entry: 100,000 IPv4 /32s are
// ≈ 3 million nodes against 100,000 Map entries here, and loading time grows the same way.

let compiled = null;

export function init(ctx) {
  compiled = compile(ctx.config);
}

export function isValid(request) {
  return typeof request.message.uri === 'string';
}

export function doProcess(request, ctx) {
  if (compiled === null) compiled = compile(ctx.config); // a host that does not call init
  const message = request.message;
  const target = hostPortOf(message.uri);
  const inDialog = message.headers.to.params.tag !== undefined;
  if (request.method === 'OPTIONS' && target !== null && target.user === '' && isUs(request, target)) {
    return { action: 'respond', status: 200, headers: { Allow: 'INVITE, ACK, BYE, CANCEL, OPTIONS' } };
  }
  // In-dialog requests follow their route set (RFC 3261 16.6); the maps decide where dialogs start.
  const routeSet = message.headers.route !== undefined && message.headers.route.length > 0;
  if ((inDialog || request.method === 'ACK') && (routeSet || (target !== null && !isUs(request, target)))) {
    return { action: 'forward' };
  }
  return route(compiled, request);
}

/** For tests and tools: the keys of a compiled map in its iteration order (insertion for linked, sorted for tree). */
export function keysOf(name) {
  const map = compiled !== null ? compiled.byName.get(name) : undefined;
  return map === undefined ? null : map.table.keys();
}

// ---------------------------------------------------------------------------------------------------------------
// Routing

function route(r3, request) {
  const state = { request, found: new Array(r3.selectorCount), memo: new Array(r3.mapCount), missed: [] };
  for (const map of r3.plan) {
    const chain = lookupMap(map, state);
    if (chain !== null) return decision(chain, state, 'plan');
  }
  if (r3.defaultRoute !== null) {
    const chain = resolve(r3.defaultRoute, null, state);
    if (chain !== null) return decision(chain, state, 'defaultRoute');
  }
  return { action: 'respond', status: 404, metadata: metadataOf(null, state, 'none') };
}

/** The chain of hops a map leads to ({step, translation, next}), or null when it does not match this request. */
function lookupMap(map, state) {
  const memo = state.memo[map.index];
  if (memo !== undefined) return memo;
  let chain = null;
  for (let i = 0; i < map.selectors.length && chain === null; i++) {
    const found = select(map.selectors[i], state);
    if (found === null) {
      miss(state, map.name + ' (' + map.selectors[i].name + ': no match)');
      continue;
    }
    const translation = map.table.find(found.key);
    if (translation === undefined) {
      miss(state, map.name + '[' + found.key + ']');
      continue;
    }
    chain = resolve(translation, { map, found }, state);
  }
  state.memo[map.index] = chain;
  return chain;
}

function resolve(translation, step, state) {
  if (translation.list !== null) {
    for (const map of translation.list) {
      const next = lookupMap(map, state);
      if (next !== null) return { step, translation, next };
    }
  }
  if (translation.uri !== null || translation.respond !== null) return { step, translation, next: null };
  return null;
}

function miss(state, what) {
  if (state.missed.length < 16) state.missed.push(what);
}

function decision(chain, state, origin) {
  let headers = null;
  let leaf = chain;
  for (let hop = chain; hop !== null; hop = hop.next) {
    if (hop.translation.headers !== null) headers = addHeaders(headers, hop.translation.headers, hop.step);
    leaf = hop;
  }
  const t = leaf.translation;
  const metadata = metadataOf(chain, state, origin);
  if (t.respond !== null) {
    const answer = { action: 'respond', status: t.respond.status, metadata };
    if (t.respond.reason !== undefined) answer.reason = t.respond.reason;
    if (headers !== null) answer.headers = headers;
    return answer;
  }
  const uri = expand(t.uri, leaf.step);
  if (!SIP_URI.test(uri) || uri.length > 2048) {
    throw new Error('requestUri of ' + nameOf(t) + ' expands to "' + uri.slice(0, 200) + '", which is not a sip:, sips: or tel: URI');
  }
  const forward = { action: 'forward', targets: [{ uri }], metadata };
  if (headers !== null) forward.headers = { add: headers };
  return forward;
}

function addHeaders(into, headers, step) {
  const out = into === null ? {} : into;
  for (const [name, values] of headers) {
    const expanded = values.map((v) => expand(v, step));
    const before = out[name];
    out[name] = before === undefined ? (expanded.length === 1 ? expanded[0] : expanded) : [].concat(before, expanded);
  }
  return out;
}

/** Which maps, keys, entries and translation decided, for the decision's metadata (the host logs it at debug). */
function metadataOf(chain, state, origin) {
  const metadata = { 'r3.route': origin };
  if (chain !== null) {
    const maps = [];
    const keys = [];
    const entries = [];
    let leaf = chain;
    for (let hop = chain; hop !== null; hop = hop.next) {
      if (hop.step !== null) {
        maps.push(hop.step.map.name);
        keys.push(hop.step.found.key);
        entries.push(hop.translation.key);
      }
      leaf = hop;
    }
    if (maps.length > 0) {
      metadata['r3.maps'] = clip(maps.join(' > '));
      metadata['r3.keys'] = clip(keys.join(' > '));
      metadata['r3.entries'] = clip(entries.join(' > '));
    }
    metadata['r3.translation'] = clip(nameOf(leaf.translation));
  }
  if (state.missed.length > 0) metadata['r3.missed'] = clip(state.missed.join(', '));
  return metadata;
}

function clip(text) {
  return text.length <= 1024 ? text : text.slice(0, 1021) + '...';
}

// ---------------------------------------------------------------------------------------------------------------
// Selectors: attribute → value → full match of the pattern → key from the expression.

/** The selector's match for this request ({key, match}) or null; each selector runs at most once per request. */
function select(selector, state) {
  const cached = state.found[selector.index];
  if (cached !== undefined) return cached;
  const value = selector.read(state.request);
  let found = null;
  if (typeof value === 'string') {
    const match = selector.regex.exec(value);
    if (match !== null) found = { key: expandGroups(selector.expression, match, undefined), match };
  }
  state.found[selector.index] = found;
  return found;
}

const COMPACT = { i: 'call-id', m: 'contact', e: 'content-encoding', l: 'content-length', c: 'content-type', f: 'from', s: 'subject', k: 'supported', t: 'to', v: 'via', r: 'refer-to', b: 'referred-by', o: 'event', u: 'allow-events', x: 'session-expires', y: 'identity', a: 'accept-contact', j: 'reject-contact', d: 'request-disposition' };
/** Raw-string headers in name-addr form: a selector sees their (first) URI, as it does for To and From. */
const NAME_ADDR = new Set(['p-asserted-identity', 'p-preferred-identity', 'referred-by', 'refer-to', 'diversion', 'history-info', 'remote-party-id', 'reply-to', 'p-called-party-id', 'service-route', 'p-associated-uri', 'p-served-user']);
const CREDENTIALS = new Set(['authorization', 'proxy-authorization', 'www-authenticate', 'proxy-authenticate']);

/** A function from the request to the attribute's value (a string), or a string saying why there is none. */
function readerFor(attribute) {
  const lower = attribute.toLowerCase();
  switch (lower) {
    case 'request-uri':
    case 'requesturi':
      return (request) => request.message.uri;
    case 'remote-ip':
    case 'remoteip':
    case 'origin-ip':
    case 'originip':
      return (request) => unbracket(request.sender.host);
    case 'remote-port':
    case 'remoteport':
      return (request) => String(request.sender.port);
    case 'method':
      return (request) => request.method;
    case 'transport':
      return (request) => request.sender.transport.toUpperCase();
    case 'content':
      return (request) => request.message.content;
    default:
      break;
  }
  const name = COMPACT[lower] !== undefined ? COMPACT[lower] : lower;
  if (CREDENTIALS.has(name)) return 'credentials headers are not routing keys';
  if (!/^[a-z0-9!%*_+`'~.-]+$/.test(name)) return 'is neither a header name nor one of Request-URI, Remote-IP, Remote-Port, Method, Transport, Content';
  switch (name) {
    case 'to':
    case 'from':
      return (request) => {
        const h = request.message.headers[name];
        return h !== undefined && h !== null ? h.uri : undefined;
      };
    case 'contact':
    case 'route':
    case 'record-route':
    case 'path':
      return (request) => {
        const h = request.message.headers[name];
        if (h === '*') return '*';
        return Array.isArray(h) && h.length > 0 ? h[0].uri : undefined;
      };
    case 'via':
      return (request) => {
        const via = request.message.headers.via;
        return Array.isArray(via) && via.length > 0 ? viaText(via[0]) : undefined;
      };
    case 'cseq':
      return (request) => {
        const cseq = request.message.headers.cseq;
        return cseq ? cseq.seq + ' ' + cseq.method : undefined;
      };
    default:
      break;
  }
  if (NAME_ADDR.has(name)) {
    return (request) => {
      const h = request.message.headers[name];
      return typeof h === 'string' ? firstUri(h) : undefined;
    };
  }
  return (request) => {
    const h = request.message.headers[name];
    return typeof h === 'string' ? h : typeof h === 'number' ? String(h) : undefined;
  };
}

function unbracket(host) {
  return host.length > 1 && host.charCodeAt(0) === 91 && host.charCodeAt(host.length - 1) === 93 ? host.slice(1, -1) : host;
}

function viaText(via) {
  let text = 'SIP/' + via.version + '/' + via.protocol + ' ' + via.host + (via.port !== undefined ? ':' + via.port : '');
  for (const key of Object.keys(via.params)) text += ';' + key + (via.params[key] === null ? '' : '=' + via.params[key]);
  return text;
}

/** The URI of the first value of a name-addr header: inside <>, else up to its parameters. */
function firstUri(text) {
  let i = 0;
  while (i < text.length && (text[i] === ' ' || text[i] === '\t')) i++;
  if (text[i] === '"') {
    for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
    i++;
  }
  const open = text.indexOf('<', i);
  const comma = text.indexOf(',', i);
  if (open >= 0 && (comma < 0 || open < comma)) {
    const close = text.indexOf('>', open);
    return close > open ? text.slice(open + 1, close).trim() : undefined;
  }
  let end = text.length;
  for (const stop of [';', ',']) {
    const at = text.indexOf(stop, i);
    if (at >= 0 && at < end) end = at;
  }
  const uri = text.slice(i, end).trim();
  return uri === '' ? undefined : uri;
}

// ---------------------------------------------------------------------------------------------------------------
// Templates: `expression` (a selector's key) and `requestUri`/header values (a translation's), Java's replacement
// syntax as R3 uses it: $N a group (digits taken while they name a group), ${name} a named group, \$ a dollar.
// In a translation, ${key} is also the selector's key.

function parseTemplate(text, groups, problems, path, inTranslation) {
  const parts = [];
  let literal = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\' && i + 1 < text.length) {
      literal += text[++i];
    } else if (c === '$' && text[i + 1] === '{') {
      const close = text.indexOf('}', i);
      const name = close > 0 ? text.slice(i + 2, close) : '';
      if (!/^[A-Za-z][A-Za-z0-9]*$/.test(name)) {
        problems.add(path, 'bad group reference at "' + text.slice(i, i + 20) + '": write ${name} with a letter then letters or digits');
        return null;
      }
      if (groups.count < 0 || (!groups.names.has(name) && !(inTranslation && name === 'key'))) {
        problems.add(path, '${' + name + '}: ' + (groups.count < 0 ? 'the default route has no selector to take groups or a key from' : 'no such named group in ' + groups.what));
        return null;
      }
      if (literal !== '') parts.push(literal);
      literal = '';
      parts.push({ name });
      i = close;
    } else if (c === '$') {
      let j = i + 1;
      if (!(j < text.length && text[j] >= '0' && text[j] <= '9')) {
        problems.add(path, 'a "$" must start a group reference ($1, ${name}); write \\$ for a dollar sign');
        return null;
      }
      let number = text.charCodeAt(j++) - 48;
      while (j < text.length && text[j] >= '0' && text[j] <= '9' && number * 10 + (text.charCodeAt(j) - 48) <= groups.count) number = number * 10 + (text.charCodeAt(j++) - 48);
      if (number > groups.count) {
        problems.add(path, '$' + number + ': ' + (groups.count < 0 ? 'the default route has no selector to take groups from' : groups.what + ' has ' + groups.count + ' group' + (groups.count === 1 ? '' : 's')));
        return null;
      }
      if (literal !== '') parts.push(literal);
      literal = '';
      parts.push({ group: number });
      i = j - 1;
    } else {
      literal += c;
    }
  }
  if (literal !== '' || parts.length === 0) parts.push(literal);
  return parts;
}

function expandGroups(parts, match, key) {
  if (parts.length === 1) {
    const only = parts[0];
    if (typeof only === 'string') return only;
    if (only.group !== undefined) return match[only.group] !== undefined ? match[only.group] : '';
  }
  let out = '';
  for (const part of parts) {
    if (typeof part === 'string') out += part;
    else if (part.group !== undefined) out += match[part.group] !== undefined ? match[part.group] : '';
    else if (match.groups !== undefined && match.groups[part.name] !== undefined) out += match.groups[part.name];
    else if (part.name === 'key' && key !== undefined) out += key;
  }
  return out;
}

function expand(parts, step) {
  return step === null ? expandGroups(parts, EMPTY_MATCH, undefined) : expandGroups(parts, step.found.match, step.found.key);
}

const EMPTY_MATCH = [''];
const SIP_URI = /^(sips?|tel):\S+$/;

// ---------------------------------------------------------------------------------------------------------------
// Tables, one per map type: put(key, translation) → null or a problem, done() after the last put,
// find(key) → the translation (its `key` is the entry's) or undefined, keys() in the type's own order.

function exactTable() {
  const entries = new Map();
  return {
    put(key, entry) {
      if (entries.has(key)) return 'duplicate key';
      entries.set(key, entry);
      return null;
    },
    done() {},
    find: (key) => entries.get(key),
    keys: () => Array.from(entries.keys()),
  };
}

/** TreeMap: keys sorted by UTF-16 code units (Java's String order), found by binary search. */
function treeTable() {
  const pending = new Map();
  let keys = [];
  let values = [];
  return {
    put(key, entry) {
      if (pending.has(key)) return 'duplicate key';
      pending.set(key, entry);
      return null;
    },
    done() {
      keys = Array.from(pending.keys()).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      values = keys.map((k) => pending.get(k));
      pending.clear();
    },
    find(key) {
      let lo = 0;
      let hi = keys.length - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >>> 1;
        const k = keys[mid];
        if (k === key) return values[mid];
        if (k < key) lo = mid + 1;
        else hi = mid - 1;
      }
      return undefined;
    },
    keys: () => keys.slice(),
  };
}

/** Longest prefix: one Map for all keys, probed with the key cut to each length present, longest first. */
function prefixTable() {
  const entries = new Map();
  let lengths = [];
  return {
    put(key, entry) {
      if (entries.has(key)) return 'duplicate key';
      entries.set(key, entry);
      return null;
    },
    done() {
      const seen = new Set();
      for (const key of entries.keys()) seen.add(key.length);
      lengths = Array.from(seen).sort((a, b) => b - a);
    },
    find(key) {
      for (let i = 0; i < lengths.length; i++) {
        const length = lengths[i];
        if (length > key.length) continue;
        const entry = entries.get(length === key.length ? key : key.slice(0, length));
        if (entry !== undefined) return entry;
      }
      return undefined;
    },
    keys: () => Array.from(entries.keys()),
  };
}

/**
 * Longest match over IPv4 and IPv6 networks: per family, one Map per prefix length present (longest first), keyed
 * by the masked address — an int32 for IPv4, the leading hex digits for IPv6. IPv4-mapped IPv6 addresses
 * (::ffff:10.0.0.1) count as IPv4, in keys and in lookups.
 */
function addressTable() {
  const v4 = new Map();
  const v6 = new Map();
  let v4Levels = [];
  let v6Levels = [];
  return {
    put(key, entry) {
      const network = parseNetwork(key);
      if (typeof network === 'string') return network;
      const levels = network.v4 ? v4 : v6;
      let level = levels.get(network.length);
      if (level === undefined) {
        level = network.v4 ? { length: network.length, mask: v4Mask(network.length), map: new Map() } : v6Level(network.length);
        levels.set(network.length, level);
      }
      const masked = network.v4 ? network.address & level.mask : v6Key(network.address, level);
      const other = level.map.get(masked);
      if (other !== undefined) return 'the same network as "' + other.key + '"';
      level.map.set(masked, entry);
      return null;
    },
    done() {
      v4Levels = Array.from(v4.values()).sort((a, b) => b.length - a.length);
      v6Levels = Array.from(v6.values()).sort((a, b) => b.length - a.length);
    },
    find(key) {
      const address = parseAddress(key);
      if (address === null) return undefined;
      if (typeof address === 'number') {
        for (let i = 0; i < v4Levels.length; i++) {
          const entry = v4Levels[i].map.get(address & v4Levels[i].mask);
          if (entry !== undefined) return entry;
        }
        return undefined;
      }
      for (let i = 0; i < v6Levels.length; i++) {
        const entry = v6Levels[i].map.get(v6Key(address, v6Levels[i]));
        if (entry !== undefined) return entry;
      }
      return undefined;
    },
    keys() {
      const keys = [];
      for (const level of v4Levels.concat(v6Levels)) for (const entry of level.map.values()) keys.push(entry.key);
      return keys;
    },
  };
}

function v4Mask(length) {
  return length === 0 ? 0 : -1 << (32 - length);
}

function v6Level(length) {
  const rest = length & 3;
  return { length, digits: length >> 2, rest, partial: (0xf << (4 - rest)) & 0xf, map: new Map() };
}

/** The masked IPv6 address (32 hex digits) as a key for one prefix length: its leading digits, the last one masked. */
function v6Key(hex, level) {
  const head = hex.slice(0, level.digits);
  return level.rest === 0 ? head : head + HEX[parseInt(hex[level.digits], 16) & level.partial];
}

const HEX = '0123456789abcdef';

/** "10.0.0.0/8", "10.0.0.0/255.0.0.0", "2001:db8::/32", a plain address: {v4, address, length}, or why not. */
function parseNetwork(text) {
  const slash = text.indexOf('/');
  const address = parseAddress(slash < 0 ? text : text.slice(0, slash));
  if (address === null) return 'not an IPv4 or IPv6 address or network';
  const mapped = typeof address === 'number' && slash >= 0 && text.slice(0, slash).indexOf(':') >= 0;
  const v4 = typeof address === 'number';
  const max = v4 && !mapped ? 32 : 128;
  if (slash < 0) return { v4, address, length: v4 ? 32 : 128 };
  const suffix = text.slice(slash + 1);
  let length;
  if (/^\d{1,3}$/.test(suffix)) {
    length = Number(suffix);
  } else if (v4 && !mapped && parseIPv4(suffix) !== null) {
    length = netmaskLength(parseIPv4(suffix));
    if (length < 0) return 'netmask ' + suffix + ' is not contiguous';
  } else {
    return 'bad prefix length "/' + suffix + '"';
  }
  if (length > max) return 'prefix length /' + length + ' is longer than ' + max;
  if (mapped) {
    if (length < 96) return 'an IPv4-mapped network needs a prefix length of at least /96';
    length -= 96;
  }
  return { v4, address, length };
}

/** The prefix length a netmask (int32) stands for, or -1 when its one bits are not contiguous. */
function netmaskLength(mask) {
  let length = 0;
  while (length < 32 && (mask & (1 << (31 - length))) !== 0) length++;
  return v4Mask(length) === mask ? length : -1;
}

/** An address as an int32 (IPv4, also IPv4-mapped IPv6) or 32 lower-case hex digits (IPv6); null when neither. */
function parseAddress(text) {
  if (text.length > 1 && text.charCodeAt(0) === 91) text = unbracket(text);
  if (text.indexOf(':') < 0) return parseIPv4(text);
  const groups = parseIPv6(text);
  if (groups === null) return null;
  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) {
    return ((groups[6] << 16) | groups[7]) | 0;
  }
  let hex = '';
  for (let i = 0; i < 8; i++) hex += (groups[i] + 0x10000).toString(16).slice(1);
  return hex;
}

function parseIPv4(text) {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return null;
    } else if (c === 46 && digits > 0 && dots < 3) {
      value = value * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else {
      return null;
    }
  }
  return dots === 3 && digits > 0 ? (value * 256 + part) | 0 : null;
}

/** Eight 16-bit groups, or null. Takes "::", a trailing dotted IPv4 part and a %zone (dropped). */
function parseIPv6(text) {
  const zone = text.indexOf('%');
  const end = zone >= 0 ? zone : text.length;
  const groups = [];
  let gap = -1; // the group index "::" stands at
  let value = 0;
  let digits = 0;
  let start = 0; // where the current group began
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    const hex = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
    if (hex >= 0) {
      if (++digits > 4) return null;
      value = value * 16 + hex;
    } else if (c === 58) {
      if (digits > 0) groups.push(value);
      else if (!(i === 0 && text.charCodeAt(1) === 58)) return null; // an empty group outside "::"
      if (i + 1 < end && text.charCodeAt(i + 1) === 58) {
        if (gap >= 0) return null; // a second "::"
        gap = groups.length;
        i++;
      } else if (i + 1 === end) {
        return null; // a trailing single ':'
      }
      if (groups.length > 8) return null;
      value = 0;
      digits = 0;
      start = i + 1;
    } else if (c === 46) {
      const v4 = parseIPv4(text.slice(start, end)); // a dotted IPv4 tail ends the address
      if (v4 === null) return null;
      groups.push((v4 >>> 16) & 0xffff, v4 & 0xffff);
      digits = 0;
      break;
    } else {
      return null;
    }
  }
  if (digits > 0) groups.push(value);
  if (gap < 0) return groups.length === 8 ? groups : null;
  if (groups.length > 7) return null;
  const zeros = new Array(8 - groups.length).fill(0);
  return groups.slice(0, gap).concat(zeros, groups.slice(gap));
}

const TABLES = { address: addressTable, prefix: prefixTable, hash: exactTable, linked: exactTable, tree: treeTable };

// ---------------------------------------------------------------------------------------------------------------
// Compiling the document. Objects are referenced by id as R3's @JsonIdentityInfo does: a selector, map or
// translation written out in full (with an `id`) anywhere may be named by that id anywhere else. Every problem is
// collected, with its JSON path and the id involved, before the document is refused.

const PROTECTED_HEADERS = new Set(['via', 'v', 'cseq', 'call-id', 'i', 'content-length', 'l', 'max-forwards', 'record-route']);
const HEADER_NAME = /^[A-Za-z0-9!%*_+`'~.-]+$/;

class Problems {
  constructor() {
    this.lines = [];
  }

  add(path, message, id) {
    this.lines.push((path === '' ? '/' : path) + ': ' + message + (typeof id === 'string' ? ' (id "' + id + '")' : ''));
  }
}

function pointer(path, token) {
  const text = String(token);
  return path + '/' + (text.indexOf('~') < 0 && text.indexOf('/') < 0 ? text : text.replace(/~/g, '~0').replace(/\//g, '~1'));
}

function isObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * The compiled document, or an Error listing every problem. Ids are collected first so references may point
 * forwards; the entries of big maps are not walked for that unless a reference was not found without it (ids
 * written inside map entries are rare, and walking 100,000 entries twice costs a third of the load).
 */
function compile(doc) {
  const shallow = attempt(doc, false);
  return shallow.incomplete ? finish(attempt(doc, true)) : finish(shallow);
}

function finish(c) {
  if (c.problems.lines.length > 0) {
    const n = c.problems.lines.length;
    throw new Error('the R3 document has ' + n + ' problem' + (n === 1 ? '' : 's') + ':\n  ' + c.problems.lines.join('\n  '));
  }
  return c.result;
}

function attempt(doc, deep) {
  const problems = new Problems();
  const ids = new Map(); // id → { kind, node, path }
  const c = { problems, ids, deep, incomplete: false, selectors: new Map(), maps: new Map(), templates: new Map(), byName: new Map(), selectorCount: 0, mapCount: 0, result: null };
  collect(c, doc, deep);
  for (const [i, node] of (doc.selectors || []).entries()) compileSelector(c, node, pointer('/selectors', i));
  for (const [i, node] of (doc.maps || []).entries()) mapFrom(c, node, pointer('/maps', i));
  const planSource = doc.plan !== undefined ? doc.plan : doc.maps || [];
  const plan = [];
  for (const [i, ref] of planSource.entries()) {
    const map = doc.plan !== undefined ? mapFrom(c, ref, pointer('/plan', i)) : c.maps.get(ref);
    if (map) plan.push(map);
  }
  let defaultRoute = null;
  if (doc.defaultRoute !== undefined) defaultRoute = translationFrom(c, doc.defaultRoute, '/defaultRoute', undefined, null);
  findCycles(c);
  c.result = { plan, defaultRoute, selectorCount: c.selectorCount, mapCount: c.mapCount, byName: c.byName };
  return c;
}

/** Record an object's id (a second object with the same id is a problem; the same object again is not). */
function define(c, node, kind, path) {
  if (!isObject(node) || typeof node.id !== 'string') return;
  const other = c.ids.get(node.id);
  if (other === undefined) c.ids.set(node.id, { kind, node, path });
  else if (other.node !== node) c.problems.add(path + '/id', 'duplicate id: ' + other.kind + ' at ' + other.path + ' has it too', node.id);
}

/** The first pass: the ids of selectors, maps and translations, inside map entries too when `deep`. */
function collect(c, doc, deep) {
  const walkMap = (node, path) => {
    if (!isObject(node)) return;
    define(c, node, 'map', path);
    if (isObject(node.selector)) define(c, node.selector, 'selector', path + '/selector');
    if (Array.isArray(node.selectors)) node.selectors.forEach((s, i) => define(c, s, 'selector', pointer(path + '/selectors', i)));
    if (!deep || !isObject(node.map)) return;
    for (const key of Object.keys(node.map)) {
      const entry = node.map[key];
      if (isObject(entry) && (typeof entry.id === 'string' || Array.isArray(entry.list))) walkTranslation(entry, pointer(path + '/map', key));
    }
  };
  const walkTranslation = (node, path) => {
    if (!isObject(node)) return;
    define(c, node, 'translation', path);
    if (Array.isArray(node.list)) node.list.forEach((m, i) => walkMap(m, pointer(path + '/list', i)));
  };
  (doc.selectors || []).forEach((s, i) => define(c, s, 'selector', pointer('/selectors', i)));
  (doc.maps || []).forEach((m, i) => walkMap(m, pointer('/maps', i)));
  (doc.plan || []).forEach((m, i) => walkMap(m, pointer('/plan', i)));
  walkTranslation(doc.defaultRoute, '/defaultRoute');
}

/** A reference (an id) or an inline object, resolved to the node it stands for and where that is written. */
function deref(c, value, kind, path) {
  if (typeof value !== 'string') return { node: value, path };
  const found = c.ids.get(value);
  if (found === undefined) {
    if (!c.deep) c.incomplete = true; // it may be written inside a map entry: look there too
    c.problems.add(path, 'unknown ' + kind + ' id "' + value + '"' + suggestion(c, value, kind));
    return null;
  }
  if (found.kind !== kind) {
    c.problems.add(path, '"' + value + '" is the id of a ' + found.kind + ' (' + found.path + '), not of a ' + kind);
    return null;
  }
  return { node: found.node, path: found.path };
}

function suggestion(c, value, kind) {
  const known = [];
  for (const [id, entry] of c.ids) if (entry.kind === kind) known.push(id);
  return known.length === 0 ? ' (there are no ' + kind + 's with ids)' : ' (known: ' + known.slice(0, 10).join(', ') + (known.length > 10 ? ', ...' : '') + ')';
}

function compileSelector(c, node, path) {
  const existing = c.selectors.get(node);
  if (existing !== undefined) return existing;
  define(c, node, 'selector', path);
  const name = typeof node.id === 'string' ? node.id : path;
  const selector = { name, index: c.selectorCount++, read: null, regex: null, expression: null, groups: null };
  c.selectors.set(node, selector);
  const read = readerFor(node.attribute);
  if (typeof read === 'string') c.problems.add(path + '/attribute', '"' + node.attribute + '" ' + read, node.id);
  else selector.read = read;
  const source = node.pattern !== undefined ? node.pattern : '(.*)';
  const flagged = /^\(\?([imsx]+)\)/.exec(source); // Java's leading inline flags, which JS writes as flags
  let flags = 's'; // R3 compiles patterns with DOTALL
  let body = source;
  if (flagged !== null) {
    if (flagged[1].indexOf('x') >= 0) c.problems.add(path + '/pattern', 'the (?x) flag (comments in patterns) is not supported', node.id);
    flags += flagged[1].replace(/[sx]/g, '');
    body = source.slice(flagged[0].length);
  }
  try {
    // Matched against the whole value, as R3's Matcher.matches() does.
    selector.regex = new RegExp('^(?:' + body + ')$', flags);
  } catch (err) {
    c.problems.add(path + '/pattern', 'invalid regular expression: ' + String(err && err.message ? err.message : err), node.id);
    return selector;
  }
  selector.groups = groupsOf(selector.regex, body, 'selector ' + name);
  const expression = parseTemplate(node.expression !== undefined ? node.expression : '$0', selector.groups, c.problems, path + '/expression', false);
  selector.expression = expression !== null ? expression : [''];
  return selector;
}

/** How many groups a pattern has, and their names: an empty alternative makes it match "" with every group unset. */
function groupsOf(regex, body, what) {
  const empty = new RegExp('(?:' + body + ')|', regex.flags).exec('');
  return { count: empty.length - 1, names: new Set(Object.keys(empty.groups || {})), what };
}

/** A map from a reference or an inline object; null when it cannot be built (the problem is recorded). */
function mapFrom(c, value, path) {
  const target = deref(c, value, 'map', path);
  if (target === null || !isObject(target.node)) return null;
  const existing = c.maps.get(target.node);
  if (existing !== undefined) return existing;
  return compileMap(c, target.node, target.path);
}

function compileMap(c, node, path) {
  define(c, node, 'map', path);
  const name = typeof node.id === 'string' ? node.id : path;
  const table = TABLES[node.type]();
  const map = { name, type: node.type, index: c.mapCount++, path, selectors: [], table, children: [] };
  c.maps.set(node, map);
  c.byName.set(name, map);
  const refs = node.selectors !== undefined ? node.selectors.map((s, i) => [s, pointer(path + '/selectors', i)]) : node.selector !== undefined ? [[node.selector, path + '/selector']] : [];
  if (refs.length === 0) c.problems.add(path, 'a map needs a selector (or selectors) to find its key', node.id);
  for (const [ref, at] of refs) {
    const target = deref(c, ref, 'selector', at);
    if (target !== null && isObject(target.node)) map.selectors.push(compileSelector(c, target.node, target.path));
  }
  const groups = mergedGroups(map);
  const entries = node.map || {};
  const entriesPath = path + '/map';
  for (const key of Object.keys(entries)) {
    const translation = translationFrom(c, entries[key], entriesPath, key, groups);
    if (translation === null) continue;
    const problem = table.put(key, translation);
    if (problem !== null) c.problems.add(pointer(entriesPath, key), 'key "' + key + '": ' + problem, node.id);
    if (translation.list !== null) for (const child of translation.list) map.children.push({ key, child });
  }
  table.done();
  return map;
}

/** The groups a translation found by this map may use: those any of its selectors has. */
function mergedGroups(map) {
  const names = new Set();
  let count = 0;
  for (const s of map.selectors) {
    if (s.groups === null) continue;
    count = Math.max(count, s.groups.count);
    for (const n of s.groups.names) names.add(n);
  }
  const what = map.selectors.length === 1 ? 'selector ' + map.selectors[0].name : 'the selectors of map ' + map.name;
  return { count, names, what, signature: count + ':' + Array.from(names).join(',') };
}

const NO_GROUPS = { count: -1, names: new Set(), what: 'the default route', signature: '-' };

/**
 * A translation from a reference or an inline object, written at `parent`/`key` (key undefined: at `parent`);
 * `groups` null for the default route (no selector). It is also the map entry: `key` is the entry's key. Paths
 * are built only for problems and unnamed translations: maps are large, and this runs once per entry.
 */
function translationFrom(c, value, parent, key, groups) {
  let node = value;
  let at = null; // the JSON path, when known
  if (typeof value === 'string') {
    const target = deref(c, value, 'translation', key === undefined ? parent : pointer(parent, key));
    if (target === null) return null;
    node = target.node;
    at = target.path;
  }
  if (!isObject(node)) return null;
  // A translation named from several maps is checked against each one's groups, so it is compiled per use.
  const scope = groups !== null ? groups : NO_GROUPS;
  const id = node.id;
  if (typeof id === 'string' && at === null) define(c, node, 'translation', key === undefined ? parent : pointer(parent, key));
  const name = typeof id === 'string' ? id : typeof node.description === 'string' ? node.description : null;
  const translation = { key, name, at, parent, uri: null, respond: null, headers: null, list: null };
  const uri = node.requestUri;
  if (uri !== undefined && node.status !== undefined) {
    c.problems.add(pathOf(translation), 'give requestUri (forward) or status (answer), not both', id);
  } else if (node.status !== undefined) {
    translation.respond = node.reason !== undefined ? { status: node.status, reason: node.reason } : { status: node.status };
  } else if (uri !== undefined) {
    const answer = uasAnswer(uri);
    if (answer !== null) translation.respond = answer;
    else if (!/^(sips?|tel):/.test(uri)) c.problems.add(pathOf(translation) + '/requestUri', 'must be a sip:, sips: or tel: URI', id);
    else translation.uri = templateOnce(c, uri, scope, translation);
  }
  if (node.reason !== undefined && translation.respond === null) c.problems.add(pathOf(translation) + '/reason', 'a reason goes with a status', id);
  if (node.headers !== undefined) translation.headers = compileHeaders(c, node, scope, pathOf(translation));
  if (node.list !== undefined) {
    const base = pathOf(translation) + '/list';
    translation.list = [];
    node.list.forEach((ref, i) => {
      const map = mapFrom(c, ref, pointer(base, i));
      if (map !== null) translation.list.push(map);
    });
  }
  return translation;
}

/** Where a translation is written (a translation named by id: where its definition is). */
function pathOf(translation) {
  if (translation.at !== null) return translation.at;
  return translation.key === undefined ? translation.parent : pointer(translation.parent, translation.key);
}

/** What metadata and errors call a translation: its id, else its description, else where it is written. */
function nameOf(translation) {
  return translation.name !== null ? translation.name : pathOf(translation);
}

/**
 * Templates are shared between translations that write the same text for the same groups (100,000 entries often
 * name a few dozen targets). `where` is a path, or the translation whose requestUri it is.
 */
function templateOnce(c, text, scope, where) {
  let cache = c.templates.get(scope.signature);
  if (cache === undefined) c.templates.set(scope.signature, (cache = new Map()));
  let parts = cache.get(text);
  if (parts === undefined) {
    parts = parseTemplate(text, scope, c.problems, typeof where === 'string' ? where : pathOf(where) + '/requestUri', true);
    if (parts === null) return [''];
    cache.set(text, parts);
  }
  return parts;
}

function compileHeaders(c, node, scope, path) {
  const headers = [];
  for (const name of Object.keys(node.headers)) {
    const at = pointer(path + '/headers', name);
    if (!HEADER_NAME.test(name)) c.problems.add(at, 'not a header name', node.id);
    else if (PROTECTED_HEADERS.has(name.toLowerCase())) c.problems.add(at, 'the ' + name + ' header belongs to the transaction layer and may not be set', node.id);
    const raw = node.headers[name];
    const values = Array.isArray(raw) ? raw : [raw];
    headers.push([name, values.map((v, i) => templateOnce(c, String(v), scope, Array.isArray(raw) ? pointer(at, i) : at))]);
  }
  return headers;
}

/** Vorpal's test UAS form, `sip:uas;status=404[;reason=...]`: answer with that status instead of forwarding. */
function uasAnswer(uri) {
  if (uri.length < 8 || uri.indexOf('uas') < 0) return null;
  const m = /^sips?:uas((?:;[^;?]*)*)$/i.exec(uri);
  if (m === null) return null;
  let status;
  let reason;
  for (const param of m[1].split(';')) {
    const eq = param.indexOf('=');
    const key = (eq < 0 ? param : param.slice(0, eq)).toLowerCase();
    const value = eq < 0 ? '' : param.slice(eq + 1);
    if (key === 'status' && /^[3-6]\d\d$/.test(value)) status = Number(value);
    if (key === 'reason') reason = decodeParam(value);
  }
  if (status === undefined) return null;
  return reason !== undefined ? { status, reason } : { status };
}

function decodeParam(value) {
  try {
    return decodeURIComponent(value).replace(/[\r\n]/g, ' ');
  } catch (err) {
    return value;
  }
}

/** Circular references through `list`, each named by its path: a → (key) b → (key) a. Iterative, so deep is fine. */
function findCycles(c) {
  const WHITE = 0;
  const GREY = 1;
  const BLACK = 2;
  const color = new Map();
  const reported = new Set();
  for (const root of c.maps.values()) {
    if (color.get(root) === BLACK) continue;
    const stack = [{ map: root, i: 0, via: null }];
    color.set(root, GREY);
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      if (top.i >= top.map.children.length) {
        color.set(top.map, BLACK);
        stack.pop();
        continue;
      }
      const edge = top.map.children[top.i++];
      const state = color.get(edge.child) || WHITE;
      if (state === GREY) {
        const from = stack.findIndex((f) => f.map === edge.child);
        const hops = stack.slice(from).map((f, k, all) => f.map.name + (k + 1 < all.length ? ' → (' + all[k + 1].via + ')' : ''));
        const cycle = hops.join(' ') + ' → (' + edge.key + ') ' + edge.child.name;
        if (!reported.has(cycle)) {
          reported.add(cycle);
          c.problems.add(edge.child.path, 'circular reference: ' + cycle);
        }
      } else if (state === WHITE) {
        color.set(edge.child, GREY);
        stack.push({ map: edge.child, i: 0, via: edge.key });
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The server's own addresses (OPTIONS pings, in-dialog requests), as the static processor reads them.

function hostPortOf(uri) {
  const m = /^sips?:(?:([^@;?]*)@)?([^;?]+)/i.exec(uri);
  if (m === null) return null;
  const hostport = m[2];
  const port = /:(\d+)$/.exec(hostport);
  return { user: m[1] !== undefined ? m[1] : '', host: unbracket(port !== null ? hostport.slice(0, -port[0].length) : hostport), port: port !== null ? Number(port[1]) : 5060 };
}

function isUs(request, target) {
  const hosts = new Set(['127.0.0.1', 'localhost'].concat(request.advertisedAddrs, request.listeningPoints.map((lp) => lp.host)));
  return hosts.has(target.host) && request.listeningPoints.some((lp) => lp.port === target.port);
}
