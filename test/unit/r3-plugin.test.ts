/**
 * The R3 plugin in a real sandbox, no sockets: the seed's documents as written, load-time refusals (every
 * problem, with its JSON path and id), the map types' orders, and longest-match lookups checked against
 * reference answers computed another way (ipaddr.js for networks, a linear scan for prefixes).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import ipaddr from 'ipaddr.js';
import { load } from 'js-yaml';
import { readConfigFile } from '../../core/host/config-files.js';
import { localCapabilities, runFixtures } from '../../core/host/fixtures.js';
import type { SandboxEngine } from '../../sandbox/index.js';
import { testEngine } from '../helpers/sandbox-engine.js';
import { buildR3, call, outcome, r3Plugin, seedDocumentText } from '../helpers/r3.js';

let engine: SandboxEngine;
before(() => {
  engine = testEngine();
});
after(() => engine.disposeAll());

async function refusal(document: Record<string, unknown>): Promise<string> {
  try {
    (await buildR3(engine, document)).dispose();
  } catch (err) {
    return (err as Error).message;
  }
  assert.fail('the document was accepted');
}

async function route(document: Record<string, unknown>, request: Record<string, unknown>): Promise<string> {
  const r3 = await buildR3(engine, document);
  try {
    return outcome(await r3.decide(request));
  } finally {
    r3.dispose();
  }
}

const toUser = { id: 'to-user', attribute: 'To', pattern: '^(sips?):([^@]+)(?:@(.+))?$', expression: '$2' };
const fromUser = { id: 'from-user', attribute: 'From', pattern: 'sips?:([^@]+)@.*', expression: '$1' };

test('r3 - its fixtures pass on this engine (the seed, every map type, selectors, translations)', async () => {
  const results = await runFixtures(r3Plugin(), { engine, capabilities: localCapabilities() });
  assert.ok(results.length >= 50, `${results.length} fixtures`);
  assert.deepEqual(results.filter((r) => !r.ok), []);
});

describe('r3 - the seed, pasted as written', () => {
  const parse = (text: string) => load(text) as Record<string, unknown>;

  test('r3 - the seed document routes as the seed says', async () => {
    const r3 = await buildR3(engine, parse(seedDocumentText('seed')));
    try {
      assert.equal(outcome(await r3.decide(call('sip:5551234@192.0.2.1', '10.28.82.132'))), 'sip:10.173.165.142:5060');
      assert.equal(outcome(await r3.decide(call('sip:19951234567@192.0.2.1'))), 'sip:10.29.68.26:5060');
      assert.equal(outcome(await r3.decide(call('sip:19954000000@192.0.2.1'))), 'sip:10.29.82.110:5060');
      assert.equal(outcome(await r3.decide(call('sip:5551234@192.0.2.1'))), 'respond 404', 'the default route sip:uas;status=404');
    } finally {
      r3.dispose();
    }
  });

  test('r3 - the reductive examples: nested map, its default requestUri, and the "$1@" slip as written', async () => {
    const dialled = call('sip:1997451234@192.0.2.1');
    const fromStg = call('sip:1997451234@192.0.2.1', '10.28.82.132');
    assert.equal(await route(parse(seedDocumentText('reductive')), fromStg), 'sip:10.173.165.142:5060');
    assert.equal(await route(parse(seedDocumentText('reductive')), dialled), 'respond 404');
    assert.equal(await route(parse(seedDocumentText('reductiveDefault')), dialled), 'sip:10.204.67.59:5060');
    assert.equal(await route(parse(seedDocumentText('reductiveDefault')), fromStg), 'sip:10.173.165.142:5060');
    // $1 of to-user is the scheme; the seed means the user, which is $2 (README, "The seed's $1@").
    assert.equal(await route(parse(seedDocumentText('reductiveGroups')), dialled), 'sip:sip@10.204.67.59:5060');
    const meant = parse(seedDocumentText('reductiveGroups').replace('sip:$1@', 'sip:$2@'));
    assert.equal(await route(meant, dialled), 'sip:1997451234@10.204.67.59:5060');
  });

  test('r3 - the seed JSON is not strict JSON (trailing commas); a .json config file still loads it', async () => {
    const text = seedDocumentText('reductive');
    assert.throws(() => JSON.parse(text), SyntaxError);
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'r3-seed-'));
    try {
      writeFileSync(join(dir, 'r3.json'), text);
      const { config } = readConfigFile(join(dir, 'r3.json'));
      assert.equal(await route(config, call('sip:1997451234@192.0.2.1', '10.28.82.132')), 'sip:10.173.165.142:5060');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('r3 - refused at load, every problem with its path and id', () => {
  const maps = (map: Record<string, unknown>[]) => ({ selectors: [toUser, fromUser], maps: map });

  test('r3 - a circular reference is refused, naming the cycle', async () => {
    const message = await refusal(
      maps([
        { type: 'prefix', id: 'a', selector: 'to-user', map: { '1': { list: ['b'] } } },
        { type: 'hash', id: 'b', selector: 'from-user', map: { alice: { list: ['c'], requestUri: 'sip:x.example.net' } } },
        { type: 'tree', id: 'c', selector: 'to-user', map: { '19': { list: ['a'] } } },
      ]),
    );
    assert.match(message, /circular reference: a → \(1\) b → \(alice\) c → \(19\) a/);
  });

  test('r3 - a map naming itself is a cycle too', async () => {
    const message = await refusal(maps([{ type: 'hash', id: 'self', selector: 'to-user', map: { '1001': { list: ['self'] } } }]));
    assert.match(message, /circular reference: self → \(1001\) self/);
  });

  test('r3 - unknown map and selector ids, and an id of the wrong kind', async () => {
    const message = await refusal({
      selectors: [toUser],
      maps: [
        { type: 'prefix', id: 'p', selector: 'to-usr', map: { '1': { list: ['nowhere'] } } },
        { type: 'hash', id: 'q', selector: 'p', map: {} },
      ],
      plan: ['p', 'missing'],
    });
    assert.match(message, /\/maps\/0\/selector: unknown selector id "to-usr" \(known: to-user\)/);
    assert.match(message, /\/maps\/0\/map\/1\/list\/0: unknown map id "nowhere"/);
    assert.match(message, /\/maps\/1\/selector: "p" is the id of a map \(\/maps\/0\), not of a selector/);
    assert.match(message, /\/plan\/1: unknown map id "missing"/);
    assert.match(message, /has 4 problems/);
  });

  test('r3 - duplicate ids, across kinds too', async () => {
    const message = await refusal({
      selectors: [toUser, { ...fromUser, id: 'twin' }],
      maps: [
        { type: 'hash', id: 'twin', selector: 'to-user', map: {} },
        { type: 'hash', id: 'm', selector: 'to-user', map: { x: { id: 'to-user', requestUri: 'sip:x.example.net' } } },
      ],
    });
    assert.match(message, /\/maps\/0\/id: duplicate id: selector at \/selectors\/1 has it too \(id "twin"\)/);
    assert.match(message, /\/maps\/1\/map\/x\/id: duplicate id: selector at \/selectors\/0 has it too \(id "to-user"\)/);
  });

  test('r3 - invalid regular expressions and group references', async () => {
    const message = await refusal({
      selectors: [
        { id: 'broken', attribute: 'To', pattern: 'sip:([0-9' },
        { id: 'two', attribute: 'To', pattern: 'sip:(\\d+)@(.*)', expression: '$3' },
        { id: 'named', attribute: 'To', pattern: 'sip:(?<user>\\d+)@.*', expression: '${usr}' },
      ],
      maps: [{ type: 'hash', id: 'm', selector: 'two', map: { '1': { requestUri: 'sip:$4@x.example.net' } } }],
      defaultRoute: { requestUri: 'sip:$1@default.example.net' },
    });
    assert.match(message, /\/selectors\/0\/pattern: invalid regular expression: .* \(id "broken"\)/);
    assert.match(message, /\/selectors\/1\/expression: \$3: selector two has 2 groups/);
    assert.match(message, /\/selectors\/2\/expression: \$\{usr\}: no such named group in selector named/);
    assert.match(message, /\/maps\/0\/map\/1\/requestUri: \$4: selector two has 2 groups/);
    assert.match(message, /\/defaultRoute\/requestUri: \$1: the default route has no selector/);
  });

  test('r3 - bad address keys, duplicate networks, protected headers, a route that is not a SIP URI', async () => {
    const message = await refusal({
      selectors: [{ id: 'ip', attribute: 'Remote-IP' }],
      maps: [
        {
          type: 'address',
          id: 'nets',
          selector: 'ip',
          map: {
            '10.0.0.300': { requestUri: 'sip:a.example.net' },
            '10.0.0.0/8': { requestUri: 'sip:b.example.net' },
            '10.9.9.9/8': { requestUri: 'sip:c.example.net' },
            '2001:db8::/129': { requestUri: 'sip:d.example.net' },
            '192.168.0.0/255.0.255.0': { requestUri: 'sip:e.example.net' },
            '192.0.2.1': { requestUri: 'http://f.example.net', headers: { Via: 'x', 'Call-ID': 'y' } },
          },
        },
      ],
    });
    assert.match(message, /\/maps\/0\/map\/10\.0\.0\.300: key "10\.0\.0\.300": not an IPv4 or IPv6 address or network \(id "nets"\)/);
    assert.match(message, /\/maps\/0\/map\/10\.9\.9\.9~18: key "10\.9\.9\.9\/8": the same network as "10\.0\.0\.0\/8"/);
    assert.match(message, /prefix length \/129 is longer than 128/);
    assert.match(message, /netmask 255\.0\.255\.0 is not contiguous/);
    assert.match(message, /\/maps\/0\/map\/192\.0\.2\.1\/requestUri: must be a sip:, sips: or tel: URI/);
    assert.match(message, /\/headers\/Via: the Via header belongs to the transaction layer/);
    assert.match(message, /\/headers\/Call-ID: the Call-ID header belongs/);
  });

  test('r3 - the JSON Schema: every problem, with its path and the id of the object it is in', async () => {
    const message = await refusal({
      selectors: [{ id: 's', atribute: 'To' }],
      maps: [{ type: 'trie', id: 'm', selector: 's', map: { '1': { requestUri: 'sip:a b', status: 99 } } }],
    });
    assert.match(message, /\/selectors\/0: missing required property "attribute" \(id "s"\)/);
    assert.match(message, /\/selectors\/0: unknown property "atribute" \(id "s"\)/);
    assert.match(message, /\/maps\/0\/type: must be one of "address", "prefix", "hash", "linked", "tree" \(id "m"\)/);
    assert.match(message, /\/maps\/0\/map\/1\/status: must be >= 300 \(id "m"\)/);
    assert.match(message, /\/maps\/0\/map\/1\/requestUri: must match pattern/);
  });

  test('r3 - ids written inside map entries may be named before them, and still clash with others', async () => {
    const forward = {
      selectors: [toUser],
      maps: [
        { type: 'hash', id: 'first', selector: 'to-user', map: { '1001': 'later', '1002': { list: ['inner'] } } },
        { type: 'hash', id: 'second', selector: 'to-user', map: { x: { id: 'later', requestUri: 'sip:later.example.net', list: [{ type: 'hash', id: 'inner', selector: 'to-user', map: { '1002': { requestUri: 'sip:inner.example.net' } } }] } } },
      ],
      plan: ['first'],
    };
    assert.equal(await route(forward, {}), 'sip:later.example.net');
    assert.equal(await route(forward, call('sip:1002@example.com')), 'sip:inner.example.net');
    const clash = structuredClone(forward) as unknown as { maps: Array<{ map: Record<string, { id?: string }> }> };
    clash.maps[1].map.x.id = 'first';
    assert.match(await refusal(clash), /\/maps\/1\/map\/x\/id: duplicate id: map at \/maps\/0 has it too/);
  });

  test('r3 - a broken document is refused before it serves: the next good one builds', async () => {
    await refusal(maps([{ type: 'hash', id: 'loop', selector: 'to-user', map: { '1001': { list: ['loop'] } } }]));
    assert.equal(await route(maps([{ type: 'hash', id: 'ok', selector: 'to-user', map: { '1001': { requestUri: 'sip:ok.example.net' } } }]), {}), 'sip:ok.example.net');
  });
});

describe('r3 - map orders and lookups', () => {
  test('r3 - linked keeps insertion order, tree sorts (Java String order), prefix and hash are exact tables', async () => {
    const keys = ['m', 'B', 'a', 'Z', '10', '9'];
    const map = Object.fromEntries(keys.map((k) => [k, { requestUri: `sip:${k}.example.net` }]));
    const document = {
      selectors: [toUser],
      maps: [
        { type: 'linked', id: 'linked', selector: 'to-user', map },
        { type: 'tree', id: 'tree', selector: 'to-user', map },
      ],
    };
    const plugin = r3Plugin();
    const sandbox = await engine.create({ name: 'r3-keys', source: plugin.source, limits: { timeoutMs: 1000, memoryMb: 64 } });
    try {
      sandbox.callSync('init', JSON.stringify({ config: document }));
      // The order the document's keys arrive in; JavaScript puts integer-like keys first, ascending (README).
      assert.deepEqual(JSON.parse(sandbox.callSync('keysOf', '"linked"')), ['9', '10', 'm', 'B', 'a', 'Z']);
      assert.deepEqual(JSON.parse(sandbox.callSync('keysOf', '"tree"')), ['10', '9', 'B', 'Z', 'a', 'm']);
    } finally {
      sandbox.dispose();
    }
  });

  test('r3 - address maps answer the longest match, as ipaddr.js computes it, for IPv4, IPv6 and mapped addresses', async () => {
    const random = seeded(7);
    const networks = new Map<string, { parsed: [ipaddr.IPv4 | ipaddr.IPv6, number]; uri: string }>();
    while (networks.size < 300) {
      const v6 = random() < 0.4;
      const bits = v6 ? 128 : 32;
      const length = Math.floor(random() * (bits + 1));
      const address = v6 ? randomV6(random, ['2001:db8', 'fd00', '2001:db8:1'][Math.floor(random() * 3)]) : randomV4(random, ['10', '192.168', '172.16'][Math.floor(random() * 3)]);
      const parsed = ipaddr.parseCIDR(`${address}/${length}`);
      const network = `${ipaddr.IPv4.isValid(address) ? ipaddr.IPv4.networkAddressFromCIDR(`${address}/${length}`) : ipaddr.IPv6.networkAddressFromCIDR(`${address}/${length}`)}/${length}`;
      if (![...networks.keys()].some((k) => k === network)) networks.set(network, { parsed, uri: `sip:n${networks.size}.example.net` });
    }
    const document = {
      selectors: [{ id: 'ip', attribute: 'Remote-IP' }],
      maps: [{ type: 'address', id: 'nets', selector: 'ip', map: Object.fromEntries([...networks].map(([k, v]) => [k, { requestUri: v.uri }])) }],
    };
    const r3 = await buildR3(engine, document);
    const matched = { v4: 0, v6: 0 };
    try {
      for (let i = 0; i < 600; i++) {
        const v6 = random() < 0.4;
        let text = v6 ? randomV6(random, ['2001:db8', 'fd00', '2001:db8:1'][Math.floor(random() * 3)]) : randomV4(random, ['10', '192.168', '172.16'][Math.floor(random() * 3)]);
        const address = ipaddr.parse(text);
        if (!v6 && random() < 0.2) text = `::ffff:${text}`; // mapped addresses count as IPv4
        else if (v6 && random() < 0.3) text = address.toNormalizedString().toUpperCase(); // long form, upper case
        let best: { length: number; uri: string } | undefined;
        for (const { parsed, uri } of networks.values()) {
          if (parsed[0].kind() === address.kind() && address.match(parsed as never) && (!best || parsed[1] > best.length)) best = { length: parsed[1], uri };
        }
        assert.equal(outcome(await r3.decide({ sender: { host: text } })), best?.uri ?? 'respond 404', `lookup of ${text}`);
        if (best) matched[address.kind() === 'ipv6' ? 'v6' : 'v4']++;
      }
      assert.ok(matched.v4 > 100 && matched.v6 > 50, `enough lookups found a network: ${JSON.stringify(matched)}`);
    } finally {
      r3.dispose();
    }
  });

  test('r3 - prefix maps answer the longest prefix, as a linear scan does', async () => {
    const random = seeded(11);
    const prefixes = new Set<string>();
    while (prefixes.size < 400) prefixes.add(String(Math.floor(random() * 10 ** (1 + Math.floor(random() * 6)))));
    const document = { selectors: [toUser], maps: [{ type: 'prefix', id: 'p', selector: 'to-user', map: Object.fromEntries([...prefixes].map((p) => [p, { requestUri: `sip:p${p}.example.net` }])) }] };
    const r3 = await buildR3(engine, document);
    let longer = 0;
    try {
      for (let i = 0; i < 500; i++) {
        const dialled = String(Math.floor(random() * 10 ** (1 + Math.floor(random() * 9))));
        const best = [...prefixes].filter((p) => dialled.startsWith(p)).sort((a, b) => b.length - a.length)[0];
        assert.equal(outcome(await r3.decide(call(`sip:${dialled}@example.com`))), best ? `sip:p${best}.example.net` : 'respond 404', `lookup of ${dialled}`);
        if (best && best.length > 1) longer++;
      }
      assert.ok(longer > 50, `enough lookups matched a prefix longer than one digit: ${longer}`);
    } finally {
      r3.dispose();
    }
  });
});

/** A small deterministic generator (mulberry32), so a failure can be replayed. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomV4(random: () => number, prefix: string): string {
  const parts = prefix.split('.');
  while (parts.length < 4) parts.push(String(Math.floor(random() * 256)));
  return parts.join('.');
}

function randomV6(random: () => number, prefix: string): string {
  const groups = prefix.split(':');
  while (groups.length < 8) groups.push(Math.floor(random() * 65536).toString(16));
  return ipaddr.IPv6.parse(groups.join(':')).toString();
}
