/**
 * Sockets: UDP (dgram), TCP (net) and TLS (tls), exactly as Node names them. Bun 1.4 and Deno 2.9 run these
 * modules unchanged for what the edge does (bind, datagrams in and out, accept, connect, framing over 'data'),
 * so the edge gets the runtime's own socket objects: no wrapper, no copy, no extra promise per packet.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';

export { dgram, net, tls };
export { isIP, type AddressInfo, type Server } from 'node:net';
