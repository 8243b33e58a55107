/**
 * isolated-vm's last line of defence, in a child process because it leaves a thread behind: some single huge
 * allocations inside V8 builtins (here `toReversed()` on a 1e8-slot sparse array) cannot be terminated. The call
 * must still fail on time, the next call must be served by a fresh isolate, and once the engine knows it lost the
 * thread it must quarantine the sandbox and tell the host through onCatastrophicError — the host stays up.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';

const indexPath = fileURLToPath(new URL('../../sandbox/index.js', import.meta.url));

it('quarantine - an isolate that cannot be stopped is reported and its sandbox quarantined, the host carries on', async () => {
  const script = `
    const { createEngine } = await import(${JSON.stringify(indexPath)});
    const say = (line) => process.stdout.write(line + '\\n');
    let sandbox;
    const engine = createEngine({
      onCatastrophicError: async (name, message) => {
        say('hook ' + name + ': ' + message);
        await sandbox.call('ok', 'null').catch((e) => say('after ' + e.name));
        process.kill(process.pid, 'SIGKILL');
      },
    });
    sandbox = await engine.create({
      name: 'wedge',
      source: 'export const wedge = () => new Array(1e8).toReversed().length;\\nexport const ok = () => 1;',
      limits: { timeoutMs: 100, memoryMb: 16 },
    });
    await sandbox.call('wedge', 'null').catch((e) => say('wedge ' + e.name));
    say('next ' + (await sandbox.call('ok', 'null')));
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--no-node-snapshot', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), 30000);
  await new Promise((resolve) => child.once('exit', resolve));
  clearTimeout(killer);
  const lines = out.trim().split('\n');
  assert.deepEqual(lines.slice(0, 2), ['wedge SandboxTimeoutError', 'next 1']);
  assert.match(lines[2] ?? '', /^hook wedge: /);
  assert.equal(lines[3], 'after SandboxDisposedError');
});
