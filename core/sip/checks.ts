/**
 * The sanity checks the codec owns beyond per-header grammar: the start line, the Request-URI, the headers a
 * message must carry and the CSeq method. They follow RFC 3261 7.1, 8.1.1, 16.3 and the invalid messages of
 * RFC 4475 3.1.2.
 *
 * The start line is read twice over, on purpose: loosely, to learn whether the message is a request we could
 * answer at all (a response to it needs the method and the Vias), and strictly, to decide whether it is valid.
 */
import { uriScheme, parseTelUri, parseUri } from './uri.js';
import { canonicalName } from './names.js';
import { clip, isToken } from './text.js';
import type { CSeq } from './types.js';

export type StartLine =
  | { kind: 'request'; method: string; uri: string; problem?: string; badVersion?: true }
  | { kind: 'response'; status: number; reason: string; problem?: string }
  | { kind: 'unknown'; problem: string };

const STATUS_LINE = /^SIP\/([0-9]+\.[0-9]+) ([0-9]+)(?: ([^\r\n]*))?$/i;
const VERSION = /^SIP\/[0-9]+\.[0-9]+$/i;
const OTHER_URI = /^[A-Za-z][A-Za-z0-9+\-.]*:[^\s<>"]+$/;

/** Headers a request or response cannot do without (RFC 3261 8.1.1; Max-Forwards is left out for RFC 2543 peers). */
const REQUIRED = ['via', 'from', 'to', 'call-id', 'cseq'] as const;

export function parseStartLine(line: string): StartLine {
  // A method is a token, and `/` is not a token character, so nothing that starts with "SIP/" is a request.
  if (/^SIP\//i.test(line)) return parseStatusLine(line);
  const parts = splitStartLine(line);
  if (parts.length < 3 || !/^SIP\//i.test(parts[parts.length - 1]!)) {
    return { kind: 'unknown', problem: `not a SIP start line: '${clip(line)}'` };
  }
  const method = parts[0]!;
  const version = parts[parts.length - 1]!;
  const uri = parts.slice(1, -1).join(' ');
  const request = { kind: 'request' as const, method, uri };
  if (!VERSION.test(version)) return { ...request, problem: `malformed SIP version '${clip(version)}'` };
  if (version.toUpperCase() !== 'SIP/2.0') {
    return { ...request, problem: `SIP version ${version.slice(4)} is not supported`, badVersion: true };
  }
  if (!isToken(method)) return { ...request, problem: `method '${clip(method)}' is not a token` };
  // RFC 4475 lwsruri, then lwsstart and trws.
  if (parts.length > 3) return { ...request, problem: 'whitespace inside the Request-URI' };
  if (line !== `${method} ${uri} ${version}`) {
    return { ...request, problem: 'request line must be Method SP Request-URI SP SIP-Version, single spaces' };
  }
  const problem = requestUriProblem(uri);
  return problem === undefined ? request : { ...request, problem };
}

/** The words of a start line; the common well-formed case without a regex split. */
function splitStartLine(line: string): string[] {
  const first = line.indexOf(' ');
  const last = line.lastIndexOf(' ');
  if (first > 0 && last > first + 1 && last < line.length - 1 && !/[\s]/.test(line.slice(first + 1, last))) {
    if (!line.includes('\t')) return [line.slice(0, first), line.slice(first + 1, last), line.slice(last + 1)];
  }
  return line.trim().split(/[ \t]+/);
}

function parseStatusLine(line: string): StartLine {
  const m = STATUS_LINE.exec(line);
  if (!m) return { kind: 'unknown', problem: `malformed status line '${clip(line)}'` };
  const [, version, code, reason] = m;
  if (version !== '2.0') return { kind: 'unknown', problem: `SIP version ${version} is not supported` };
  // Three digits, 100 to 699 (RFC 3261 7.2); RFC 4475 bigcode sends 4294967301.
  if (code!.length !== 3 || +code! < 100 || +code! > 699) {
    return { kind: 'unknown', problem: `status code ${clip(code!)} out of range` };
  }
  // "SIP/2.0 180" without the SP before an empty reason is tolerated: dropping a provisional or a 200 for a
  // missing space would hurt more than it protects.
  return { kind: 'response', status: +code!, reason: reason ?? '' };
}

/**
 * RFC 3261 19.1.1: a Request-URI has no `<>`, no whitespace (ruled out by the caller) and no headers. Unknown
 * schemes parse; answering 416 is the edge's business (RFC 4475 3.3.2).
 */
function requestUriProblem(uri: string): string | undefined {
  if (uri.startsWith('<')) return 'Request-URI must not be enclosed in <>';
  const scheme = uriScheme(uri);
  if (scheme === 'sip' || scheme === 'sips') {
    const parsed = parseUri(uri);
    if (parsed === null) return `malformed Request-URI '${clip(uri)}'`;
    if (Object.keys(parsed.headers).length > 0) return 'Request-URI must not contain headers (escaped headers)';
    return undefined;
  }
  if (scheme === 'tel') return parseTelUri(uri) === null ? `malformed Request-URI '${clip(uri)}'` : undefined;
  return OTHER_URI.test(uri) ? undefined : `Request-URI '${clip(uri)}' is not an absolute URI`;
}

/** Problems with the message as a whole, once each header has been decoded on its own. */
export function messageProblems(start: StartLine, headers: Record<string, unknown>, present: ReadonlyMap<string, unknown>): string[] {
  const problems: string[] = [];
  const missing = REQUIRED.filter((key) => !present.has(key));
  if (missing.length > 0) problems.push(`missing required header(s): ${missing.map(canonicalName).join(', ')}`);
  const cseq = headers.cseq as CSeq | undefined;
  // Also for ACK and CANCEL: their CSeq method is ACK and CANCEL (RFC 3261 17.1.1.3, 9.1).
  if (start.kind === 'request' && cseq !== undefined && cseq.method !== start.method) {
    problems.push(`CSeq method ${cseq.method} does not match the request method ${start.method}`);
  }
  return problems;
}
