/**
 * `/console/`: the web console's pages, plain files from `console/` in the package (HTML, one ES module, one
 * stylesheet: no build step). Behind the API token: `/console/?token=<token>` (the URL `routr console` prints)
 * checks it, sets the HttpOnly, SameSite=Strict session cookie derived from it and redirects to `/console/`, so
 * the token leaves the address bar and the history. Every answer forbids framing and inline script, and is
 * never cached.
 */
import { consoleCookieValue, CONSOLE_COOKIE, hasConsoleCookie } from '../api/token.js';
import type { OpsServer } from '../http.js';
import { packagePath } from '../paths.js';
import { timingSafeEqual } from '../runtime/crypto.js';
import { Buffer } from '../runtime/bytes.js';
import { readFileSync } from '../runtime/files.js';
import type { http } from '../runtime/http.js';

const FILES: Record<string, string> = {
  '': 'index.html',
  'index.html': 'index.html',
  'app.js': 'app.js',
  'app.css': 'app.css',
};

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
};

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

export function mountConsolePages(ops: OpsServer, token: string | undefined, options: { secure: boolean }): void {
  ops.route('/console', (req, res) => serve(req, res, token, options.secure));
}

function serve(req: http.IncomingMessage, res: http.ServerResponse, token: string | undefined, secure: boolean): void {
  const url = new URL(req.url ?? '/', 'http://console');
  if (url.pathname === '/console') return redirect(res, '/console/');
  if (req.method !== 'GET' && req.method !== 'HEAD') return page(res, 405, 'Only GET here.');
  if (!token) return page(res, 403, 'The management API is off on this server (no token configured and a public bindAddr), so the console is too.');
  const given = url.searchParams.get('token');
  if (given !== null) {
    if (!sameToken(given, token)) return page(res, 401, 'That token is not this server’s API token.');
    res.writeHead(303, { ...SECURITY_HEADERS, location: '/console/', 'set-cookie': `${CONSOLE_COOKIE}=${consoleCookieValue(token)}; HttpOnly; SameSite=Strict; Path=/${secure ? '; Secure' : ''}` });
    res.end();
    return;
  }
  if (!hasConsoleCookie(req.headers.cookie, token)) return page(res, 401, 'Open the address `routr console` prints (it carries the API token once, then a cookie keeps you in).');
  const name = FILES[url.pathname.slice('/console/'.length)];
  if (!name) return page(res, 404, 'No such page.');
  const body = readFileSync(packagePath('console', name));
  res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': TYPES[name.slice(name.lastIndexOf('.') + 1)] });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function sameToken(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function redirect(res: http.ServerResponse, location: string): void {
  res.writeHead(308, { ...SECURITY_HEADERS, location });
  res.end();
}

function page(res: http.ServerResponse, status: number, message: string): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>routr console</title></head><body><main><h1>routr console</h1><p>${escapeHtml(message)}</p></main></body></html>`);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
