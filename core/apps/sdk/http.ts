/**
 * Writing web callbacks (routr's request handlers) in a few lines. Both helpers build a fetch-style handler,
 * `(request: Request) => Promise<Response>`, which Deno (`Deno.serve(h)`) and Bun (`Bun.serve({ fetch: h })`)
 * take as it is, and Node through `nodeListener(h)` (`http.createServer(nodeListener(h))`).
 *
 * - `webCallback(fn)`: the GET routr sends for each request; `fn` gets the query (method, callId, uri, from,
 *   to, source, transport) and returns a decision, `{ app: name }` or `{ url }`.
 * - `handoff(fn)`: the endpoint a `{ url }` answer points at; routr POSTs the request envelope, `fn` answers
 *   with the same `req`/`res` as an App handler, and the decision goes back in the HTTP response.
 *
 * A function that throws, or an answer that does not serialise, gives HTTP 500 (routr answers that SIP
 * request 503, as for any failed callback).
 */
import type { Decision, MessageEnvelope } from '../../envelope.js';
import { AppRequest, AppResponse } from './request.js';

export type CallbackAnswer = Decision | { app: string } | { url: string };

/** The query routr sends with each callback (drachtio's style of url parameters). */
export interface CallbackQuery {
  method: string;
  callId: string;
  uri: string;
  from: string;
  to: string;
  /** `<ip>:<port>` the request came from (IPv6 in brackets). */
  source: string;
  transport: string;
}

export type FetchHandler = (request: Request) => Promise<Response>;

const JSON_HEADERS = { 'content-type': 'application/json' };

export function webCallback(fn: (query: CallbackQuery, request: Request) => CallbackAnswer | Promise<CallbackAnswer>): FetchHandler {
  return async (request) => {
    const params = new URL(request.url).searchParams;
    const query: CallbackQuery = {
      method: params.get('method') ?? '',
      callId: params.get('callId') ?? '',
      uri: params.get('uri') ?? '',
      from: params.get('from') ?? '',
      to: params.get('to') ?? '',
      source: params.get('source') ?? '',
      transport: params.get('transport') ?? '',
    };
    try {
      return new Response(JSON.stringify(await fn(query, request)), { headers: JSON_HEADERS });
    } catch (err) {
      return new Response(JSON.stringify({ error: (err as Error).message }), { status: 500, headers: JSON_HEADERS });
    }
  };
}

export function handoff(fn: (req: AppRequest, res: AppResponse) => void | Promise<void>, options: { timeoutMs?: number } = {}): FetchHandler {
  const timeoutMs = options.timeoutMs ?? 5000;
  return async (request) => {
    let envelope: MessageEnvelope;
    try {
      envelope = (await request.json()) as MessageEnvelope;
    } catch {
      return new Response('{"error":"the body is not a request envelope"}', { status: 400, headers: JSON_HEADERS });
    }
    try {
      const decision = await new Promise<Decision>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
        const res = new AppResponse((d) => {
          clearTimeout(timer);
          resolve(d);
        });
        Promise.resolve()
          .then(() => fn(new AppRequest(envelope, timeoutMs), res))
          .catch((err: unknown) => {
            clearTimeout(timer);
            reject(err);
          });
      });
      return new Response(JSON.stringify(decision), { headers: JSON_HEADERS });
    } catch (err) {
      return new Response(JSON.stringify({ error: (err as Error).message }), { status: 500, headers: JSON_HEADERS });
    }
  };
}

/** What `nodeListener` needs of node:http's request and response (typed here, so the SDK imports no node:*). */
interface NodeRequest extends AsyncIterable<Uint8Array> {
  method?: string;
  url?: string;
  headers: Record<string, string | string[] | undefined>;
}
interface NodeResponse {
  writeHead(status: number, headers: Record<string, string>): unknown;
  end(body?: Uint8Array | string): unknown;
}

/** Serve a fetch-style handler with node:http: `http.createServer(nodeListener(handler))`. */
export function nodeListener(handler: FetchHandler): (req: NodeRequest, res: NodeResponse) => void {
  return (req, res) => {
    void (async () => {
      const chunks: Uint8Array[] = [];
      for await (const chunk of req) chunks.push(chunk);
      const headers = new Headers();
      for (const [name, value] of Object.entries(req.headers)) {
        if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
      }
      const method = req.method ?? 'GET';
      const body = method === 'GET' || method === 'HEAD' ? undefined : concat(chunks);
      const response = await handler(new Request(`http://${headers.get('host') ?? 'localhost'}${req.url ?? '/'}`, { method, headers, body }));
      const out: Record<string, string> = {};
      response.headers.forEach((value, name) => (out[name] = value));
      res.writeHead(response.status, out);
      res.end(new Uint8Array(await response.arrayBuffer()));
    })().catch(() => {
      res.writeHead(500, JSON_HEADERS);
      res.end('{"error":"internal"}');
    });
  };
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const size = chunks.reduce((n, c) => n + c.byteLength, 0);
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.byteLength;
  }
  return all;
}
