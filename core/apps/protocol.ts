/**
 * The app protocol: how applications outside the sandbox (APPS.md) talk to processor hosts over the bus. The
 * host (`core/apps`) and the SDK (`routr/app`) both speak it through this module, which uses only what Node,
 * Bun and Deno share (Web Crypto, TextEncoder), so the SDK runs on all three.
 *
 * Subjects, each carrying the bus protocol version and the app name escaped by `subjectToken`:
 *
 *   routr.v1.apps.<name>.presence          app instance → every host: heartbeat (the first says hello, state
 *                                          "down" says goodbye)
 *   routr.v1.apps.<name>.instance.<id>     host → one instance: a request envelope; the reply is the decision
 *   routr.v1.apps.<name>.notice.<id>       host → one instance: advisory (its presence was refused, and why)
 *   routr.v1.apps.announce                 host → every app: a host (re)joined, send presence now
 *
 * Frames are `<signature>\n<json>`. With a token (the default), the signature is
 * base64url(HMAC-SHA256(token, "routr.v1.apps\n<name>\n<kind>\n<context>\n<json>")): kind says what the frame is
 * (presence, request, reply) and context binds it to one instance (presence) or one request id (request and
 * reply), so a frame cannot be replayed as another kind, for another app, or as the answer to another request.
 * The token itself never crosses the bus. With `auth: nats` the signature is "-" and NATS permissions decide
 * who may publish and subscribe on the app's subjects. Pings (`{"ping":1}`, answered `{"pong":1}`) are
 * unsigned: a host sends one only to learn whether anyone still listens on an instance's subject.
 */
import { BUS_PROTOCOL_VERSION, subjectToken } from '../bus/subjects.js';

const ROOT = `routr.${BUS_PROTOCOL_VERSION}.apps`;

/** Published by hosts when they start or reconnect: apps answer with their presence at once. */
export const ANNOUNCE_SUBJECT = `${ROOT}.announce`;

export function presenceSubject(app: string): string {
  return `${ROOT}.${subjectToken(app)}.presence`;
}

export function instanceSubject(app: string, instance: string): string {
  return `${ROOT}.${subjectToken(app)}.instance.${subjectToken(instance)}`;
}

export function noticeSubject(app: string, instance: string): string {
  return `${ROOT}.${subjectToken(app)}.notice.${subjectToken(instance)}`;
}

/** App names: what `spec.host.apps[].name` allows (the shape of processor refs). */
export const APP_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
/** Instance ids: what the SDK mints (random hex); hosts refuse anything else. */
export const INSTANCE_ID = /^[A-Za-z0-9-]{8,64}$/;

/** What an instance publishes on its presence subject, every `heartbeatMs`. */
export interface PresenceBody {
  v: 1;
  name: string;
  instance: string;
  /** Increases with every presence of this instance; a host ignores one not above the last it saw. */
  seq: number;
  /** "down": the instance is closing; hosts stop sending it requests at once (those in flight finish). */
  state: 'up' | 'down';
  /** Methods it takes; null: every method its processor entries route to it. */
  methods: string[] | null;
  heartbeatMs: number;
  sdk: string;
}

/** A host's request to one instance: the request id (signed into the reply), the time left, the envelope. */
export interface RequestBody {
  id: string;
  timeoutMs: number;
  envelope: unknown;
}

/** An instance's answer: a decision (validated by the host like any plugin's) or the reason it has none. */
export interface ReplyBody {
  id: string;
  decision?: unknown;
  error?: string;
}

export interface NoticeBody {
  instance: string;
  error: string;
}

/** Frame kinds, each signed apart from the others. */
export type FrameKind = 'presence' | 'request' | 'reply';

export const UNSIGNED = '-';
export const PING_FRAME = `${UNSIGNED}\n{"ping":1}`;
export const PONG_FRAME = `${UNSIGNED}\n{"pong":1}`;

/** Presence and notices are small; anything bigger on those subjects is refused unread. */
export const MAX_PRESENCE_BYTES = 4096;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

export function encodeFrame(signature: string, json: string): Uint8Array {
  return utf8.encode(`${signature}\n${json}`);
}

/** `{ signature, json }`, or undefined for bytes that are no frame. */
export function decodeFrame(bytes: Uint8Array): { signature: string; json: string } | undefined {
  const text = fromUtf8.decode(bytes);
  const newline = text.indexOf('\n');
  if (newline <= 0 || newline > 128) return undefined;
  return { signature: text.slice(0, newline), json: text.slice(newline + 1) };
}

/** A fresh random id (hex): instance ids, request-id prefixes. */
export function randomId(bytes = 12): string {
  const raw = crypto.getRandomValues(new Uint8Array(bytes));
  let out = '';
  for (const byte of raw) out += byte.toString(16).padStart(2, '0');
  return out;
}

/** HMAC-SHA256 with one key: Web Crypto by default (every runtime); the host plugs in its runtime's sync one. */
export interface Mac {
  mac(data: Uint8Array): Uint8Array | Promise<Uint8Array>;
}
export type MacFactory = (key: Uint8Array) => Mac | Promise<Mac>;

export const webCryptoMac: MacFactory = async (key) => {
  const hmacKey = await crypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return { mac: async (data) => new Uint8Array(await crypto.subtle.sign('HMAC', hmacKey, data)) };
};

/**
 * Signs and checks frames for one app name. `token` undefined: frames go unsigned (auth: nats), and every
 * signature is accepted — NATS permissions are then what keeps others off the app's subjects.
 */
export class AppSigner {
  readonly app: string;
  readonly #mac: Mac | undefined;

  private constructor(app: string, mac: Mac | undefined) {
    this.app = app;
    this.#mac = mac;
  }

  static async create(app: string, token: string | undefined, macFactory: MacFactory = webCryptoMac): Promise<AppSigner> {
    return new AppSigner(app, token === undefined ? undefined : await macFactory(utf8.encode(token)));
  }

  get signs(): boolean {
    return this.#mac !== undefined;
  }

  /** The frame bytes for `json`, signed for this app, kind and context. */
  async frame(kind: FrameKind, context: string, json: string): Promise<Uint8Array> {
    return encodeFrame(await this.#signature(kind, context, json), json);
  }

  /** Whether `signature` is this app's for `json` (compared in constant time). */
  async verify(kind: FrameKind, context: string, json: string, signature: string): Promise<boolean> {
    if (!this.#mac) return true;
    return sameText(await this.#signature(kind, context, json), signature);
  }

  async #signature(kind: FrameKind, context: string, json: string): Promise<string> {
    if (!this.#mac) return UNSIGNED;
    return toBase64Url(await this.#mac.mac(utf8.encode(`${ROOT}\n${this.app}\n${kind}\n${context}\n${json}`)));
  }
}

/** Equal strings, in time that depends on the length only (signatures all have one length). */
function sameText(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function toBase64Url(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += BASE64URL[n >> 18] + BASE64URL[(n >> 12) & 63] + BASE64URL[(n >> 6) & 63] + BASE64URL[n & 63];
  }
  if (i < bytes.length) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8);
    out += BASE64URL[n >> 18] + BASE64URL[(n >> 12) & 63] + (i + 1 < bytes.length ? BASE64URL[(n >> 6) & 63] : '');
  }
  return out;
}
