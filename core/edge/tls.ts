/**
 * TLS transport (RFC 3261 26.3.1, TLS 1.2 or newer): the stream transport over `tls` sockets. The certificate
 * and key are read and checked when the transport starts; a problem fails this transport alone, with a message
 * naming the file, and the edge's other transports still start. Outbound connections verify the peer (SNI
 * when the target was a host name) unless `rejectUnauthorized: false`, and present our certificate to peers
 * that ask for one.
 */
import { type net, tls } from '../runtime/net.js';
import { StreamTransport, type StreamTransportOptions } from './stream.js';
import { clientTlsOptions, loadTlsMaterial, serverTlsOptions, type TlsMaterial, type TlsSettings } from '../config/tls-files.js';

export interface TlsTransportOptions extends StreamTransportOptions {
  tls: TlsSettings;
}

export class TlsTransport extends StreamTransport {
  constructor(options: TlsTransportOptions) {
    let material: TlsMaterial | undefined;
    const warnings: string[] = [];
    super(options, {
      protocol: 'tls',
      acceptEvent: 'secureConnection',
      warnings,
      prepare: () => {
        material = loadTlsMaterial(options.tls);
        warnings.push(...material.warnings);
      },
      createServer: () => {
        const server = tls.createServer(serverTlsOptions(material as TlsMaterial));
        // A failed handshake (wrong protocol, untrusted client certificate) ends that socket, nothing more.
        server.on('tlsClientError', (_err: Error, socket: net.Socket) => socket.destroy());
        return server;
      },
      connect: (destination) => ({ socket: tls.connect(clientTlsOptions(material as TlsMaterial, destination)), readyEvent: 'secureConnect' }),
    });
  }
}
