/**
 * TCP transport: the stream transport over plain `net` sockets (see stream.ts for framing, connection reuse,
 * per-source limits and idle timeouts).
 */
import { net } from '../runtime/net.js';
import { StreamTransport, type StreamTransportOptions } from './stream.js';

export type { StreamTransportOptions } from './stream.js';

export class TcpTransport extends StreamTransport {
  constructor(options: StreamTransportOptions) {
    super(options, {
      protocol: 'tcp',
      acceptEvent: 'connection',
      createServer: () => net.createServer(),
      connect: (destination) => ({ socket: net.connect({ host: destination.host, port: destination.port }), readyEvent: 'connect' }),
    });
  }
}
