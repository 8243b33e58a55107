/**
 * Shutdown closes transports more than once (the edge's drain, then the server's close). A second close must
 * resolve on every runtime: Node throws on closing a closed UDP socket, Deno never calls back, so a
 * non-idempotent close hung `deno run bin/routr.js` at SIGTERM.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { TcpTransport } from '../../core/edge/tcp.js';
import type { Transport } from '../../core/edge/transport.js';
import { UdpTransport } from '../../core/edge/udp.js';

function within(ms: number, promise: Promise<void>): Promise<'closed' | 'hung'> {
  return Promise.race([promise.then(() => 'closed' as const), new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), ms).unref())]);
}

for (const [name, make] of [
  ['udp', () => new UdpTransport({ bindAddr: '127.0.0.1', port: 0 })],
  ['tcp', () => new TcpTransport({ bindAddr: '127.0.0.1', port: 0 })],
] as Array<[string, () => Transport]>) {
  test(`transports - a ${name} transport closed twice resolves both times`, async () => {
    const transport = make();
    await transport.start(() => {});
    assert.equal(await within(2000, transport.close()), 'closed');
    assert.equal(await within(2000, transport.close()), 'closed');
  });
}
