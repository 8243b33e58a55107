/**
 * The runtime seam: everything routr needs from the JavaScript runtime it runs on — sockets (UDP, TCP, TLS),
 * the WebSocket and HTTP servers, DNS, files and watches, hashes and keys, environment, signals and exit — is
 * imported from this folder and nowhere else in core/ (the layer rules in .dependency-cruiser.cjs fail a Node
 * built-in imported anywhere else, and test/unit/layers.test.ts a Node global used anywhere else).
 *
 * Node, Bun and Deno all implement the `node:` modules used here the same way for what routr does with them
 * (measured: dgram, net, tls, http, fs.watch, dns, timers with unref, signals), so the modules below mostly name
 * the Node APIs routr uses, unchanged: one place to adapt when a runtime differs, not a rewrite of what works.
 * Hot paths (UDP receive and send, stream framing) get the runtime's own objects, with no wrapper per packet.
 * What does differ — how a child routr process is launched, which sandbox engine loads — is decided once, from
 * `detectRuntime()` (detect.ts).
 *
 *   detect.ts   which runtime this is, and how to launch a script on it
 *   net.ts      UDP, TCP and TLS sockets and servers
 *   http.ts     HTTP(S) servers (the ops server, the WebSocket transports' upgrade servers)
 *   ws.ts       the WebSocket server (the `ws` package, which runs on all three)
 *   dns.ts      SRV and address lookups
 *   files.ts    files, directories, watches, paths
 *   crypto.ts   hashes, HMAC, random bytes, keys and certificates
 *   bytes.ts    Buffer (the codec's byte type) and gunzip
 *   process.ts  environment, pid, signals, exit, standard streams, child processes, argument parsing
 */
export { detectRuntime, currentRuntime, launchCommand, type RuntimeName, type Launch } from './detect.js';
