/**
 * A free local port for tests: bind port 0 on loopback, read what the kernel gave, release it. The port can in
 * principle be taken again before the caller binds it; on loopback in a test run that race is negligible.
 */
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';

export async function freePort(type: 'tcp' | 'udp'): Promise<number> {
  return type === 'tcp' ? freeTcpPort() : freeUdpPort();
}

function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('no TCP port assigned'))));
    });
  });
}

function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.unref();
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}
