/**
 * Network fuzzing against a live edge: fast-check-generated mutations of the codec target's seeds, sent as UDP
 * datagrams and over TCP connections (several messages per connection, cut into random chunks), as fast as the
 * edge takes them. Afterwards the edge must still answer an OPTIONS over both. Shared by the brief run in
 * `npm test` (test/integration/edge-fuzz.test.ts) and the long one (`npm run fuzz`).
 */
import dgram from 'node:dgram';
import net from 'node:net';
import fc from 'fast-check';
import { messageArb, streamArb } from './codec-target.js';

export interface NetworkFuzzResult {
  datagrams: number;
  connections: number;
  streamMessages: number;
}

/** Send `datagrams` mutated datagrams and `connections` TCP connections of mutated messages to host:port. */
export async function fuzzEdge(target: { host: string; port: number }, options: { datagrams: number; connections: number; seed: number }): Promise<NetworkFuzzResult> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  const inputs = fc.sample(messageArb, { numRuns: options.datagrams, seed: options.seed });
  for (let i = 0; i < inputs.length; i++) {
    // Datagrams over 65507 octets cannot be sent at all; the edge's own cap is tested elsewhere.
    if (inputs[i]!.length > 0 && inputs[i]!.length <= 65_000) socket.send(inputs[i]!, target.port, target.host);
    // Pace in bursts so the kernel's receive buffer, not the test, decides what is lost.
    if (i % 200 === 199) await new Promise((r) => setTimeout(r, 5));
  }
  socket.close();
  let streamMessages = 0;
  const streams = fc.sample(streamArb, { numRuns: options.connections, seed: options.seed + 1 });
  for (let i = 0; i < streams.length; i += 10) {
    await Promise.all(
      streams.slice(i, i + 10).map(async ([messages, cuts]) => {
        streamMessages += messages.length;
        const whole = Buffer.concat(messages);
        await new Promise<void>((resolve) => {
          const conn = net.connect(target);
          conn.on('error', () => resolve());
          conn.on('data', () => {});
          conn.once('connect', async () => {
            let last = 0;
            for (const cut of [...cuts.map((c) => Math.floor(c * whole.length))].sort((a, b) => a - b)) {
              if (conn.destroyed) break;
              conn.write(whole.subarray(last, cut));
              last = cut;
              await new Promise((r) => setImmediate(r));
            }
            if (!conn.destroyed) conn.write(whole.subarray(last));
            setTimeout(() => {
              conn.destroy();
              resolve();
            }, 20);
          });
        });
      }),
    );
  }
  return { datagrams: inputs.length, connections: streams.length, streamMessages };
}
