/**
 * The WebSocket server for the WS and WSS transports: the `ws` package over an http(s) server's upgrade event,
 * which Bun and Deno run as Node does (handshake, subprotocol choice, ping/pong).
 */
export { WebSocketServer, type RawData, type WebSocket } from 'ws';
