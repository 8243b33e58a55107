/**
 * HTTP servers: the ops server (health, metrics, management API) and the servers WebSocket transports upgrade
 * from. Node's http and https modules, which Bun and Deno implement for these uses.
 */
import http from 'node:http';
import https from 'node:https';

export { http, https };
