/**
 * Bytes: Buffer is the codec's byte type (a Uint8Array with fast latin1 and UTF-8 slicing, which Bun and Deno
 * implement natively), `isUtf8` checks WebSocket text, `gunzipSync` unpacks plugin archives.
 */
export { Buffer, isUtf8 } from 'node:buffer';
export { gunzipSync } from 'node:zlib';
