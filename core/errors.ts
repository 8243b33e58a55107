/**
 * The one error type for SIP outcomes, and the registry of stable error codes.
 *
 * Handlers throw `SipError`s (or return them); exactly one place, `toResponseSpec`, turns any thrown value into
 * the SIP status, reason and headers the edge sends. Unknown throwables become 500 so a bug never leaves a
 * request unanswered. The registry is the documented table in README "Error codes"; a test keeps both in step.
 */

export interface ErrorCodeSpec {
  status: number;
  reason: string;
  description: string;
}

export const ERROR_CODES = {
  ROUTR_BAD_REQUEST: { status: 400, reason: 'Bad Request', description: 'The request failed parsing or sanity checks.' },
  ROUTR_UNAUTHORIZED: { status: 401, reason: 'Unauthorized', description: 'Digest authentication required (registrar/UAS).' },
  ROUTR_PROXY_AUTH_REQUIRED: { status: 407, reason: 'Proxy Authentication Required', description: 'Digest authentication required (proxy).' },
  ROUTR_FORBIDDEN: { status: 403, reason: 'Forbidden', description: 'The processor refused the request (isAuthorized, ACL).' },
  ROUTR_NOT_FOUND: { status: 404, reason: 'Not Found', description: 'No such user or destination.' },
  ROUTR_METHOD_NOT_ALLOWED: { status: 405, reason: 'Method Not Allowed', description: 'No processor matched the request; Allow lists the methods processors accept.' },
  ROUTR_REQUEST_TIMEOUT: { status: 408, reason: 'Request Timeout', description: 'No next hop answered in time (timer B/F).' },
  ROUTR_UNSUPPORTED_URI_SCHEME: { status: 416, reason: 'Unsupported URI Scheme', description: 'The Request-URI scheme is not sip, sips or tel.' },
  ROUTR_BAD_EXTENSION: { status: 420, reason: 'Bad Extension', description: 'Proxy-Require names an extension routr does not support.' },
  ROUTR_TEMPORARILY_UNAVAILABLE: { status: 480, reason: 'Temporarily Unavailable', description: 'The callee has no current binding.' },
  ROUTR_TRANSACTION_DOES_NOT_EXIST: { status: 481, reason: 'Call/Transaction Does Not Exist', description: 'CANCEL or in-dialog request with nothing to match.' },
  ROUTR_TOO_MANY_HOPS: { status: 483, reason: 'Too Many Hops', description: 'Max-Forwards reached 0.' },
  ROUTR_REQUEST_TERMINATED: { status: 487, reason: 'Request Terminated', description: 'The INVITE was cancelled.' },
  ROUTR_INTERNAL: { status: 500, reason: 'Server Internal Error', description: 'A processor failed (throw, timeout, memory, invalid decision) or an internal bug.' },
  ROUTR_SERVICE_UNAVAILABLE: { status: 503, reason: 'Service Unavailable', description: 'No processor host, app or web callback answered in time (or none is connected), or the server is draining; carries Retry-After.' },
  ROUTR_VERSION_NOT_SUPPORTED: { status: 505, reason: 'Version Not Supported', description: 'Only SIP/2.0 is supported.' },
} as const satisfies Record<string, ErrorCodeSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}

export type HeaderValues = Record<string, string | string[]>;

export class SipError extends Error {
  override readonly name = 'SipError';
  readonly status: number;
  readonly reason: string;
  readonly code: ErrorCode;
  readonly headers: HeaderValues;

  constructor(code: ErrorCode, message?: string, options: { headers?: HeaderValues; reason?: string; cause?: unknown } = {}) {
    const spec = ERROR_CODES[code];
    super(message ?? spec.description, { cause: options.cause });
    this.code = code;
    this.status = spec.status;
    this.reason = options.reason ?? spec.reason;
    this.headers = options.headers ?? {};
  }
}

export interface ResponseSpec {
  status: number;
  reason: string;
  code: ErrorCode;
  headers: HeaderValues;
}

/** The one mapping from anything thrown to the SIP answer for it. */
export function toResponseSpec(err: unknown): ResponseSpec {
  if (err instanceof SipError) {
    return { status: err.status, reason: err.reason, code: err.code, headers: err.headers };
  }
  const spec = ERROR_CODES.ROUTR_INTERNAL;
  return { status: spec.status, reason: spec.reason, code: 'ROUTR_INTERNAL', headers: {} };
}

/** Standard reason phrases for statuses routr may send without a more specific reason. */
export function defaultReason(status: number): string {
  for (const spec of Object.values(ERROR_CODES) as ErrorCodeSpec[]) {
    if (spec.status === status) return spec.reason;
  }
  return REASONS[status] ?? (status < 200 ? 'Trying' : status < 300 ? 'OK' : 'Error');
}

const REASONS: Record<number, string> = {
  100: 'Trying', 180: 'Ringing', 181: 'Call Is Being Forwarded', 182: 'Queued', 183: 'Session Progress',
  200: 'OK', 202: 'Accepted', 301: 'Moved Permanently', 302: 'Moved Temporarily', 402: 'Payment Required',
  406: 'Not Acceptable', 410: 'Gone', 413: 'Request Entity Too Large', 414: 'Request-URI Too Long',
  415: 'Unsupported Media Type', 423: 'Interval Too Brief', 482: 'Loop Detected', 484: 'Address Incomplete',
  486: 'Busy Here', 488: 'Not Acceptable Here', 501: 'Not Implemented', 502: 'Bad Gateway', 504: 'Server Time-out',
  513: 'Message Too Large', 600: 'Busy Everywhere', 603: 'Decline', 604: 'Does Not Exist Anywhere',
};
