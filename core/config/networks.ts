/**
 * Networks as routr's configs and resources write them (addresses, CIDRs, IPv4 address/netmask), and address
 * matching for the hot path: every datagram and connection the edge receives is checked against the
 * access list, the rate-limit exemptions and the ban list before anything is parsed, so this must cost a few
 * integer comparisons, not an ipaddr.js parse (which allocates objects per call). Networks are parsed once with
 * ipaddr.js (`parseNetwork`, which the AccessControlList resource uses too) into 32-bit words; a
 * socket address is read into a reusable scratch array by a small hand-written parser (no library parses into
 * caller-owned memory) and compared word by word under each network's mask.
 *
 * IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) match as IPv4, as the resources' ACLs do.
 */
import ipaddr from 'ipaddr.js';

export type Network = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** Parse `10.0.0.1`, `10.0.0.0/8`, `fd00::/8` or `192.168.1.0/255.255.255.0`; throws a RangeError saying why. */
export function parseNetwork(entry: string): Network {
  const text = entry.trim();
  const slash = text.indexOf('/');
  if (slash === -1) {
    if (!ipaddr.isValid(text)) throw new RangeError(`"${entry}" is not an IPv4 or IPv6 address or CIDR`);
    const address = ipaddr.parse(text);
    return [address, address.kind() === 'ipv4' ? 32 : 128];
  }
  const [host, mask] = [text.slice(0, slash), text.slice(slash + 1)];
  if (ipaddr.IPv4.isValidFourPartDecimal(host) && ipaddr.IPv4.isValidFourPartDecimal(mask)) {
    const bits = ipaddr.IPv4.parse(mask).prefixLengthFromSubnetMask();
    if (bits === null) throw new RangeError(`"${entry}": ${mask} is not a netmask`);
    return [ipaddr.IPv4.parse(host), bits];
  }
  try {
    return ipaddr.parseCIDR(text);
  } catch {
    throw new RangeError(`"${entry}" is not a valid CIDR (address/prefix length, e.g. 10.0.0.0/8 or fd00::/8)`);
  }
}

interface ParsedNetwork {
  v6: boolean;
  /** Network words (1 for IPv4, 4 for IPv6), already masked. */
  words: Uint32Array;
  masks: Uint32Array;
}

/** Scratch for the address being looked up: reused by every call (single-threaded). */
const scratch = new Uint32Array(4);
const scratchV4 = new Uint32Array(1);

/** Reads `address` into `out` (1 word for IPv4, 4 for IPv6); returns 4, 6, or 0 when it is not an IP address. */
export function readAddress(address: string, out: Uint32Array = scratch): 0 | 4 | 6 {
  if (address.indexOf(':') === -1) return readV4(address, 0, address.length, out) ? 4 : 0;
  if (!readV6(address, out)) return 0;
  // ::ffff:a.b.c.d matches as IPv4.
  if (out[0] === 0 && out[1] === 0 && out[2] === 0xffff) {
    out[0] = out[3];
    return 4;
  }
  return 6;
}

function readV4(text: string, start: number, end: number, out: Uint32Array, at = 0): boolean {
  let value = 0;
  let octet = -1;
  let parts = 0;
  for (let i = start; i <= end; i++) {
    const c = i === end ? 46 : text.charCodeAt(i);
    if (c === 46) {
      if (octet < 0 || parts === 4) return false;
      value = value * 256 + octet;
      parts++;
      octet = -1;
    } else if (c >= 48 && c <= 57) {
      octet = octet < 0 ? c - 48 : octet * 10 + (c - 48);
      if (octet > 255) return false;
    } else return false;
  }
  if (parts !== 4) return false;
  out[at] = value >>> 0;
  return true;
}

function readV6(text: string, out: Uint32Array): boolean {
  let end = text.indexOf('%');
  if (end === -1) end = text.length;
  let start = 0;
  if (text.charCodeAt(0) === 91 && text.charCodeAt(end - 1) === 93) {
    start = 1;
    end--;
  }
  // Up to 8 groups; `gap` is where '::' stood (-1 when absent).
  const groups = [0, 0, 0, 0, 0, 0, 0, 0];
  let count = 0;
  let gap = -1;
  let i = start;
  if (text.charCodeAt(i) === 58) {
    if (text.charCodeAt(i + 1) !== 58) return false;
    gap = 0;
    i += 2;
  }
  while (i < end) {
    let j = i;
    let value = 0;
    while (j < end && j - i < 5) {
      const c = text.charCodeAt(j);
      const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
      if (d < 0) break;
      value = value * 16 + d;
      j++;
    }
    if (j < end && text.charCodeAt(j) === 46) {
      // An embedded IPv4 address ends the text: two more groups.
      if (count > 6) return false;
      if (!readV4(text, i, end, scratchV4)) return false;
      groups[count++] = scratchV4[0] >>> 16;
      groups[count++] = scratchV4[0] & 0xffff;
      i = end;
      break;
    }
    if (j === i || j - i > 4 || count === 8) return false;
    groups[count++] = value;
    i = j;
    if (i === end) break;
    if (text.charCodeAt(i) !== 58) return false;
    i++;
    if (text.charCodeAt(i) === 58) {
      if (gap !== -1) return false;
      gap = count;
      i++;
    } else if (i === end) return false;
  }
  if (gap === -1 ? count !== 8 : count > 7) return false;
  const full = [0, 0, 0, 0, 0, 0, 0, 0];
  const tail = count - (gap === -1 ? count : gap);
  for (let k = 0; k < count - tail; k++) full[k] = groups[k];
  for (let k = 0; k < tail; k++) full[8 - tail + k] = groups[count - tail + k];
  for (let w = 0; w < 4; w++) out[w] = ((full[2 * w] << 16) | full[2 * w + 1]) >>> 0;
  return true;
}

function maskWords(bits: number, words: number): Uint32Array {
  const masks = new Uint32Array(words);
  for (let w = 0; w < words; w++) {
    const take = Math.max(0, Math.min(32, bits - 32 * w));
    masks[w] = take === 0 ? 0 : take === 32 ? 0xffffffff : (0xffffffff << (32 - take)) >>> 0;
  }
  return masks;
}

/** Parse one entry (address, CIDR, IPv4 address/netmask); throws a RangeError saying why it is not one. */
export function parseEntry(entry: string): ParsedNetwork {
  const [address, bits] = parseNetwork(entry);
  const mapped = address.kind() === 'ipv6' && (address as { isIPv4MappedAddress(): boolean }).isIPv4MappedAddress();
  const text = mapped ? (address as { toIPv4Address(): { toString(): string } }).toIPv4Address().toString() : address.toString();
  const prefix = mapped ? Math.max(0, bits - 96) : bits;
  const v6 = !mapped && address.kind() === 'ipv6';
  const words = new Uint32Array(v6 ? 4 : 1);
  readAddress(text, words);
  const masks = maskWords(prefix, words.length);
  for (let w = 0; w < words.length; w++) words[w] = (words[w] & masks[w]) >>> 0;
  return { v6, words, masks };
}

/** A set of networks, matched without allocating. */
export class NetworkSet {
  readonly #v4: ParsedNetwork[] = [];
  readonly #v6: ParsedNetwork[] = [];
  readonly entries: readonly string[];

  constructor(entries: readonly string[]) {
    this.entries = [...entries];
    for (const entry of entries) {
      const parsed = parseEntry(entry);
      (parsed.v6 ? this.#v6 : this.#v4).push(parsed);
    }
  }

  get size(): number {
    return this.#v4.length + this.#v6.length;
  }

  has(address: string): boolean {
    if (this.size === 0) return false;
    const kind = readAddress(address);
    return kind !== 0 && this.hasParsed(kind);
  }

  /** Match the address last read into the scratch words by `readAddress`. */
  hasParsed(kind: 4 | 6): boolean {
    const list = kind === 4 ? this.#v4 : this.#v6;
    outer: for (const net of list) {
      for (let w = 0; w < net.words.length; w++) {
        if (((scratch[w] & net.masks[w]) >>> 0) !== net.words[w]) continue outer;
      }
      return true;
    }
    return false;
  }
}

/** The first problem with a list of entries (for config validation), or undefined. */
export function entryProblem(entry: string): string | undefined {
  try {
    parseEntry(entry);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * The key a source is counted and banned under: the address itself for IPv4, its /prefix network for IPv6
 * (one host gets a /64 and can use any address in it). Undefined when `address` is not an IP address.
 */
export function sourceKey(address: string, ipv6PrefixLength: number): string | undefined {
  const kind = readAddress(address);
  if (kind === 0) return undefined;
  if (kind === 4) return address.startsWith('::ffff:') ? address.slice(7) : address;
  if (ipv6PrefixLength >= 128) return formatV6(scratch, 128);
  return `${formatV6(scratch, ipv6PrefixLength)}/${ipv6PrefixLength}`;
}

/** The scratch words as a canonical IPv6 network text (masked to `bits`), groups in hex without compression. */
function formatV6(words: Uint32Array, bits: number): string {
  const masks = maskWords(bits, 4);
  let out = '';
  for (let w = 0; w < 4; w++) {
    const v = (words[w] & masks[w]) >>> 0;
    out += `${w ? ':' : ''}${(v >>> 16).toString(16)}:${(v & 0xffff).toString(16)}`;
  }
  return out;
}
