/**
 * The R3 processor through a real host (real sandbox, the embedded plugin store): the seed's documents from a
 * config file next to the server config and pasted inline into it; a bad document refused at start with its
 * file, path and cycle; the document hot-swapped under load by editing its file (a bad edit keeps the running
 * one); a new version of the plugin installed while it serves; and 100,000-entry prefix and address maps.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { defaultCapabilities } from '../../core/capabilities/index.js';
import { loadServerConfigFile } from '../../core/config/server.js';
import type { HostReply } from '../../core/envelope.js';
import { ProcessorHost } from '../../core/host/host.js';
import { silentLogger } from '../../core/log.js';
import { Metrics } from '../../core/metrics.js';
import { readPluginDir } from '../../core/plugins/bundle.js';
import type { SandboxEngine } from '../../sandbox/index.js';
import { testEngine } from '../helpers/sandbox-engine.js';
import { decide, envelope } from '../helpers/envelopes.js';
import { startTestHost, variant } from '../helpers/plugins.js';
import { r3Dir, seedDocumentText } from '../helpers/r3.js';
import { waitFor } from '../helpers/wait.js';

let engine: SandboxEngine;
const dir = mkdtempSync(join(tmpdir(), 'routr-r3-'));
before(() => {
  engine = testEngine();
});
after(() => {
  engine.disposeAll();
  rmSync(dir, { recursive: true, force: true });
});

/** A request as an edge sends it: INVITE to `user`, from `source` (the socket address R3's Remote-IP sees). */
function invite(user: string, source = '127.0.0.1') {
  const env = envelope('INVITE', `sip:${user}@127.0.0.1`);
  env.sender = { ...env.sender, host: source };
  return env;
}

function answer(reply: HostReply): string {
  if ('error' in reply) return `error ${reply.error.status}`;
  return reply.decision.action === 'forward' ? (reply.decision.targets?.[0]?.uri ?? 'forward') : `respond ${reply.decision.status}`;
}

async function hostFromServerConfig(name: string, yaml: string): Promise<ProcessorHost> {
  const file = join(dir, name);
  writeFileSync(file, yaml);
  const config = loadServerConfigFile(file);
  return ProcessorHost.create({ config: config.spec.host, engine, logger: silentLogger(), metrics: new Metrics(), capabilities: defaultCapabilities(), configFiles: { debounceMs: 30, pollMs: 200 } });
}

function serverYaml(config: string): string {
  return `apiVersion: v2beta1\nkind: Server\nref: r3-test\nspec:\n  host:\n    processors:\n      - ref: r3\n        config: ${config}\n`;
}

describe('r3 host - the seed documents', () => {
  test('r3 host - a config file next to the server config (config: { file: ./seed.json }), the seed JSON as written', async () => {
    writeFileSync(join(dir, 'seed.json'), seedDocumentText('seed'));
    const host = await hostFromServerConfig('from-file.yaml', serverYaml('{ file: ./seed.json }'));
    try {
      assert.equal(answer(await decide(host, invite('5551234', '10.28.82.132'))), 'sip:10.173.165.142:5060');
      assert.equal(answer(await decide(host, invite('19951234567'))), 'sip:10.29.68.26:5060');
      assert.equal(answer(await decide(host, invite('5551234'))), 'respond 404');
    } finally {
      host.dispose();
    }
  });

  test('r3 host - the seed JSON pasted inline into the server config', async () => {
    const pasted = seedDocumentText('reductiveDefault')
      .split('\n')
      .map((line) => (line ? `          ${line}` : line))
      .join('\n');
    const host = await hostFromServerConfig('inline.yaml', serverYaml(`\n${pasted}`));
    try {
      assert.equal(answer(await decide(host, invite('1997451234', '10.28.82.132'))), 'sip:10.173.165.142:5060');
      assert.equal(answer(await decide(host, invite('1997451234'))), 'sip:10.204.67.59:5060');
    } finally {
      host.dispose();
    }
  });

  test('r3 host - a bad document is refused at start, naming the file, the path and the cycle', async () => {
    const cyclic = { selectors: [{ id: 's', attribute: 'To' }], maps: [{ type: 'hash', id: 'a', selector: 's', map: { x: { list: ['b'] } } }, { type: 'hash', id: 'b', selector: 's', map: { y: { list: ['a'] } } }] };
    writeFileSync(join(dir, 'cyclic.json'), JSON.stringify(cyclic));
    await assert.rejects(hostFromServerConfig('cyclic.yaml', serverYaml('{ file: ./cyclic.json }')), (err: Error) => {
      assert.match(err.message, /cyclic\.json/);
      assert.match(err.message, /\/maps\/\d: circular reference: a → \(x\) b → \(y\) a/);
      return true;
    });
    writeFileSync(join(dir, 'bad-schema.json'), JSON.stringify({ maps: [{ type: 'radix', id: 'm', selector: 's' }] }));
    await assert.rejects(hostFromServerConfig('bad-schema.yaml', serverYaml('{ file: ./bad-schema.json }')), /config file .*bad-schema\.json \(\/spec\/host\/processors\/0\/config \(processor "r3"\)\): config does not satisfy[\s\S]*\/maps\/0\/type: must be one of .* \(id "m"\)/);
  });
});

function document(target: string, extra: Record<string, unknown> = {}) {
  return {
    selectors: [{ id: 'ruri-user', attribute: 'Request-URI', pattern: 'sip:([^@]+)@.*', expression: '$1' }],
    maps: [{ type: 'prefix', id: 'dialled', selector: 'ruri-user', map: { '1': { description: target, requestUri: `sip:${target}.example.net` } } }],
    ...extra,
  };
}

/** Replace the file as editors do: write a sibling, rename it over. */
function publish(file: string, content: string): void {
  writeFileSync(`${file}.tmp`, content);
  renameSync(`${file}.tmp`, file);
}

describe('r3 host - hot swap of the document under load', () => {
  test('r3 host - edits of the config file swap the document while requests run; bad edits keep the running one', async () => {
    const file = join(dir, 'live.json');
    publish(file, JSON.stringify(document('a')));
    const t = await startTestHost({ processors: [{ ref: 'r3', config: { file } }] });
    const seen = new Map<string, number>();
    let running = true;
    const lane = async () => {
      while (running) {
        const got = answer(await decide(t.host, invite('1001')));
        seen.set(got, (seen.get(got) ?? 0) + 1);
        // A sync plugin answers within microtasks: let timers and file events run, as a bus would.
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    const lanes = Array.from({ length: 8 }, lane);
    const status = () => t.host.status().find((s) => s.ref === 'r3');
    try {
      await waitFor(() => (seen.get('sip:a.example.net') ?? 0) > 50, { what: 'requests served by document a' });
      publish(file, JSON.stringify(document('b')));
      await waitFor(() => (seen.get('sip:b.example.net') ?? 0) > 50, { what: 'document b serving', timeoutMs: 5000 });

      // A cycle: refused, b keeps serving, the refusal is shown in `routr plugin list`.
      publish(file, JSON.stringify({ ...document('c'), maps: [{ type: 'hash', id: 'loop', selector: 'ruri-user', map: { '1001': { list: ['loop'] } } }] }));
      await waitFor(() => /circular reference: loop → \(1001\) loop/.test(status()?.refusal ?? ''), { what: 'the cycle refused', timeoutMs: 5000 });
      const before = seen.get('sip:b.example.net') ?? 0;
      await waitFor(() => (seen.get('sip:b.example.net') ?? 0) > before + 50, { what: 'b still serving' });

      // Not even JSON or YAML: refused too.
      publish(file, '{ "selectors": [');
      await waitFor(() => /syntax error/.test(status()?.refusal ?? ''), { what: 'the syntax error refused', timeoutMs: 5000 });

      publish(file, JSON.stringify(document('c')));
      await waitFor(() => (seen.get('sip:c.example.net') ?? 0) > 50, { what: 'document c serving', timeoutMs: 5000 });
      assert.equal(status()?.refusal, undefined, 'a good document clears the refusal');
    } finally {
      running = false;
      await Promise.all(lanes);
      t.dispose();
    }
    assert.deepEqual([...seen.keys()].sort(), ['sip:a.example.net', 'sip:b.example.net', 'sip:c.example.net'], `every request got a or b or c, none failed: ${JSON.stringify([...seen])}`);
  });

  test('r3 host - installed like any plugin: a new version swaps in under the same document', async () => {
    const file = join(dir, 'installed.json');
    publish(file, JSON.stringify(document('kept')));
    const t = await startTestHost({ processors: [{ ref: 'r3', config: { file } }] });
    try {
      assert.equal(answer(await decide(t.host, invite('1001'))), 'sip:kept.example.net');
      const next = variant(readPluginDir(r3Dir), '1.0.1-test');
      await t.store.install(next);
      const [outcome] = await t.host.sync('r3');
      assert.equal(outcome?.outcome, 'swapped');
      assert.equal(outcome?.version, '1.0.1-test');
      assert.equal(answer(await decide(t.host, invite('1001'))), 'sip:kept.example.net');
    } finally {
      t.dispose();
    }
  });
});

describe('r3 host - at size', () => {
  test('r3 host - 100,000-entry prefix and address maps load within the plugin limits and answer', async () => {
    const prefixes: Record<string, unknown> = {};
    const addresses: Record<string, unknown> = {};
    for (let i = 0; i < 100_000; i++) {
      prefixes[String(1_000_000 + i * 7)] = { description: `carrier ${i % 64}`, requestUri: `sip:carrier${i % 64}.example.net` };
      const key = i % 2 === 0 ? `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` : `2001:db8:${(i >> 8).toString(16)}:${(i & 255).toString(16)}::/64`;
      addresses[key] = { description: `peer ${i}`, requestUri: `sip:peer${i % 100}.example.net` };
    }
    const big = {
      selectors: [
        { id: 'ip', attribute: 'Remote-IP' },
        { id: 'user', attribute: 'Request-URI', pattern: 'sip:([^@]+)@.*', expression: '$1' },
      ],
      maps: [
        { type: 'address', id: 'peers', selector: 'ip', map: addresses },
        { type: 'prefix', id: 'dialled', selector: 'user', map: prefixes },
      ],
    };
    const file = join(dir, 'big.json');
    writeFileSync(file, JSON.stringify(big));
    // Loading runs under the processor's timeoutMs (wall clock); a busy test machine gets room (README, "Size").
    const t = await startTestHost({ processors: [{ ref: 'r3', config: { file }, limits: { timeoutMs: 20000 } }] });
    try {
      assert.equal(answer(await decide(t.host, invite('1000700555', '192.0.2.1'))), 'sip:carrier36.example.net', 'the longest prefix, 1000700 (entry 100)');
      assert.equal(answer(await decide(t.host, invite('1', '10.0.2.8'))), 'sip:peer20.example.net', 'entry 520, an IPv4 address');
      assert.equal(answer(await decide(t.host, invite('1', '2001:db8:c3:4f::9'))), 'sip:peer99.example.net', 'entry 49999, an IPv6 /64');
      assert.equal(answer(await decide(t.host, invite('999', '192.0.2.1'))), 'respond 404');
    } finally {
      t.dispose();
    }
  });
});
