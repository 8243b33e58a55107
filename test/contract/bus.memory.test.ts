/**
 * The bus contract against MemoryBus, plus what only the memory bus promises: strict round-robin in queue
 * groups, a TTL sweeper that never holds the process open, and `createBus` picking it when no url is given.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createBus, MemoryBus, MemoryHub, type Bus } from '../../core/bus/index.js';
import { busContract } from './bus.case.js';
import { bytes, text } from './support.js';
import { evalModule } from '../helpers/runtime.js';

busContract('memory', async () => {
  const hub = new MemoryHub();
  const buses: Bus[] = [new MemoryBus({ hub })];
  return {
    bus: buses[0],
    second: async () => {
      const bus = new MemoryBus({ hub });
      buses.push(bus);
      return bus;
    },
    cleanup: async () => {
      await Promise.all(buses.map((bus) => bus.close()));
    },
  };
});

describe('memory bus', () => {
  it('queue group - members take turns', async () => {
    const bus = new MemoryBus();
    bus.serve('turns', () => bytes('a'), { queue: 'q' });
    bus.serve('turns', () => bytes('b'), { queue: 'q' });
    const order: string[] = [];
    for (let i = 0; i < 6; i++) order.push(text(await bus.request('turns', bytes(''), { timeoutMs: 100 })));
    assert.deepEqual(order, ['a', 'b', 'a', 'b', 'a', 'b']);
    await bus.close();
  });

  it('subscribe - a plain subscriber on a request subject sees the request; without a server it times out', async () => {
    const bus = new MemoryBus();
    const seen: string[] = [];
    bus.subscribe('watched', (payload) => seen.push(text(payload)));
    await assert.rejects(bus.request('watched', bytes('q'), { timeoutMs: 50 }), { name: 'BusTimeoutError' });
    assert.deepEqual(seen, ['q']);
    await bus.close();
  });

  it('kv - the TTL sweeper never keeps the process alive', async () => {
    const index = fileURLToPath(new URL('../../core/bus/index.js', import.meta.url));
    const script = `
      const { MemoryBus } = await import(${JSON.stringify(index)});
      const kv = await new MemoryBus().kv('sweep', { ttlMs: 60000 });
      await kv.put('k', new Uint8Array([1]));
    `;
    const [command, args] = evalModule(script);
    const child = spawn(command, args, { stdio: 'inherit' });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    const code = await exited;
    clearTimeout(timer);
    assert.equal(code, 0, 'the child process did not exit on its own');
  });

  it('createBus - no url gives the embedded memory bus', async () => {
    const bus = await createBus({ name: 'test' });
    assert.equal(bus.kind, 'memory');
    await bus.close();
  });
});
