/**
 * The shield's parts without sockets: address matching (IPv4, IPv6, mapped, /64 source keys), the sliding
 * window rate counter, the ban list shared through a bus KV, the edge guard's order of checks, the scanner
 * filter and the password-guessing counts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryBus } from '../../core/bus/memory.js';
import { parseServerConfig } from '../../core/config/server.js';
import { silentLogger } from '../../core/log.js';
import { Metrics } from '../../core/metrics.js';
import { BanList } from '../../core/shield/bans.js';
import { EdgeGuard } from '../../core/shield/guard.js';
import { PasswordGuard } from '../../core/shield/guessing.js';
import { NetworkSet, readAddress, sourceKey } from '../../core/config/networks.js';
import { RateCounter } from '../../core/shield/rate.js';
import { ScannerFilter } from '../../core/shield/scanners.js';
import { waitFor } from '../helpers/wait.js';

const REQUEST = new TextEncoder().encode('OPTIONS sip:x SIP/2.0\r\n');
const RESPONSE = new TextEncoder().encode('SIP/2.0 200 OK\r\n');

function security(overrides: Record<string, unknown> = {}) {
  return parseServerConfig({ apiVersion: 'v2beta1', kind: 'Server', ref: 't', spec: { security: overrides } }).spec.security;
}

describe('shield - networks', () => {
  test('shield - IPv4 and IPv6 networks match without ipaddr.js at lookup; mapped IPv6 matches as IPv4', () => {
    const set = new NetworkSet(['10.0.0.0/8', '192.168.1.0/255.255.255.0', '2001:db8::/32', '::1', '::ffff:172.16.0.0/108']);
    assert.equal(set.has('10.1.2.3'), true);
    assert.equal(set.has('11.0.0.1'), false);
    assert.equal(set.has('192.168.1.77'), true);
    assert.equal(set.has('192.168.2.1'), false);
    assert.equal(set.has('::ffff:10.9.9.9'), true, 'mapped');
    assert.equal(set.has('2001:db8:1::5'), true);
    assert.equal(set.has('2001:db9::5'), false);
    assert.equal(set.has('::1'), true);
    assert.equal(set.has('::2'), false);
    assert.equal(set.has('172.16.5.5'), true, 'a mapped CIDR matches IPv4 addresses');
    assert.equal(set.has('not-an-address'), false);
    assert.equal(set.has('fe80::1%eth0'), false);
  });

  test('shield - the IPv6 reader agrees with the RFC 4291 spellings', () => {
    const words = new Uint32Array(4);
    for (const [text, expected] of [
      ['::', [0, 0, 0, 0]],
      ['1::', [0x00010000, 0, 0, 0]],
      ['2001:db8::ff00:42:8329', [0x20010db8, 0, 0x0000ff00, 0x00428329]],
      ['2001:0db8:0000:0000:0000:ff00:0042:8329', [0x20010db8, 0, 0x0000ff00, 0x00428329]],
      ['[::1]', [0, 0, 0, 1]],
      ['::1.2.3.4', [0, 0, 0, 0x01020304]],
    ] as const) {
      assert.equal(readAddress(text, words), 6, text);
      assert.deepEqual([...words], expected, text);
    }
    for (const bad of ['1:::2', ':1', '1:2:3:4:5:6:7:8:9', '12345::', '1::2::3', 'g::1', '1:2:3:4:5:6:7:', '1.2.3', '1.2.3.256', '1.2.3.4.5']) {
      assert.equal(readAddress(bad, words), 0, bad);
    }
  });

  test('shield - a source is its IPv4 address, or its IPv6 /64', () => {
    assert.equal(sourceKey('192.0.2.1', 64), '192.0.2.1');
    assert.equal(sourceKey('::ffff:192.0.2.1', 64), '192.0.2.1');
    assert.equal(sourceKey('2001:db8:1:2:aaaa::1', 64), '2001:db8:1:2:0:0:0:0/64');
    assert.equal(sourceKey('2001:db8:1:2:bbbb::2', 64), sourceKey('2001:db8:1:2:aaaa::1', 64), 'same /64');
    assert.notEqual(sourceKey('2001:db8:1:3::1', 64), sourceKey('2001:db8:1:2::1', 64));
    assert.equal(sourceKey('::1', 128), '0:0:0:0:0:0:0:1');
    assert.equal(sourceKey('nonsense', 64), undefined);
  });

  test('shield - config refuses an access list or exemption entry that is not a network', () => {
    assert.throws(() => parseServerConfig({ apiVersion: 'v2beta1', kind: 'Server', ref: 't', spec: { edge: { accessControlList: { deny: ['10.0.0.0/33'] } } } }), /accessControlList\/deny\/0/);
    assert.throws(() => parseServerConfig({ apiVersion: 'v2beta1', kind: 'Server', ref: 't', spec: { security: { rateLimit: { exempt: ['nope'] } } } }), /rateLimit\/exempt\/0/);
  });
});

describe('shield - rate counter', () => {
  test('shield - a sliding window: over maxRequests within the window trips, spread out it does not', () => {
    let now = 0;
    const rate = new RateCounter({ windowMs: 1000, maxRequests: 10, now: () => now });
    for (let i = 0; i < 10; i++) assert.equal(rate.hit('a'), false);
    assert.equal(rate.hit('a'), true, 'the 11th in one window');
    let tripped = false;
    for (let i = 0; i < 100; i++) {
      now += 150; // ≈ 6.7 per second
      tripped ||= rate.hit('b');
    }
    assert.equal(tripped, false);
    // The previous window still counts at the start of the next one (no reset at the boundary to exploit).
    now = 100_000;
    for (let i = 0; i < 10; i++) rate.hit('c');
    now += 1001;
    assert.equal(rate.hit('c'), true, '10 just before the boundary and 1 just after are 11 in a sliding second');
  });

  test('shield - the table is bounded: past maxSources the oldest are forgotten', () => {
    const rate = new RateCounter({ windowMs: 1000, maxRequests: 5, maxSources: 100 });
    for (let i = 0; i < 1000; i++) rate.hit(`s${i}`);
    assert.ok(rate.size <= 100, `size ${rate.size}`);
  });
});

describe('shield - ban list', () => {
  test('shield - a ban written on one node is enforced by another within the watch, and lifted everywhere', async () => {
    const bus = new MemoryBus();
    const a = await BanList.open(bus, { node: 'a' });
    const b = await BanList.open(bus, { node: 'b' });
    await a.ban('192.0.2.9', 60, 'rate');
    assert.equal(a.has('192.0.2.9'), true, 'at once where it was written');
    await waitFor(() => b.has('192.0.2.9'), { timeoutMs: 1000 });
    assert.deepEqual(b.list().map((x) => [x.source, x.reason, x.by]), [['192.0.2.9', 'rate', 'a']]);
    const c = await BanList.open(bus, { node: 'c' });
    assert.equal(c.has('192.0.2.9'), true, 'a node starting later loads the bans in force');
    assert.equal(await b.lift('192.0.2.9'), true);
    await waitFor(() => !a.has('192.0.2.9') && !c.has('192.0.2.9'), { timeoutMs: 1000 });
    for (const l of [a, b, c]) await l.close();
    await bus.close();
  });

  test('shield - a ban ends by itself; at most maxEntries are kept, the soonest to end going first', async () => {
    let now = 1_000_000;
    const list = BanList.local({ maxEntries: 3, now: () => now });
    await list.ban('1.1.1.1', 10, 'rate');
    await list.ban('2.2.2.2', 100, 'rate');
    await list.ban('3.3.3.3', 100, 'rate');
    await list.ban('4.4.4.4', 100, 'rate');
    assert.equal(list.size, 3);
    assert.equal(list.has('1.1.1.1'), false, 'evicted first');
    now += 101_000;
    assert.equal(list.has('2.2.2.2'), false, 'expired');
    await list.close();
  });
});

describe('shield - edge guard', () => {
  function guard(overrides: Record<string, unknown> = {}, acl = { allow: [] as string[], deny: [] as string[] }) {
    const metrics = new Metrics();
    const bans = BanList.local();
    const g = new EdgeGuard({ accessControlList: acl, security: security(overrides), bans, metrics, logger: silentLogger() });
    return { g, bans, metrics };
  }

  test('shield - the access list drops before anything else; allow wins over deny', () => {
    const { g, metrics } = guard({}, { allow: ['10.1.0.0/16'], deny: ['10.0.0.0/8'] });
    assert.equal(g.admit('10.2.3.4', REQUEST), false);
    assert.equal(g.admit('10.1.3.4', REQUEST), true);
    assert.equal(g.admit('192.0.2.1', REQUEST), true);
    assert.equal(g.admitConnection('10.9.9.9'), false);
    assert.equal(metrics.shieldDrops.get('acl'), 2);
    g.setAccessControlList({ allow: [], deny: ['192.0.2.0/24'] });
    assert.equal(g.admit('192.0.2.1', REQUEST), false, 'the API list adds to the configured one');
  });

  test('shield - a flood over the rate limit bans the source; responses are not counted; exempt networks are not banned', async () => {
    const { g, bans, metrics } = guard({ rateLimit: { maxRequests: 50, windowMs: 1000, exempt: ['198.51.100.0/24'] } });
    let first = -1;
    for (let i = 0; i < 200; i++) if (!g.admit('203.0.113.5', REQUEST) && first < 0) first = i;
    assert.equal(first, 50, 'the 51st request in the window is dropped');
    assert.equal(bans.has('203.0.113.5'), true);
    assert.equal(bans.get('203.0.113.5')?.reason, 'rate');
    assert.equal(g.admitConnection('203.0.113.5'), false, 'a banned source cannot connect either');
    for (let i = 0; i < 200; i++) assert.equal(g.admit('203.0.113.6', RESPONSE), true);
    for (let i = 0; i < 200; i++) assert.equal(g.admit('198.51.100.7', REQUEST), true);
    g.setExemptHosts(['192.0.2.50']);
    for (let i = 0; i < 200; i++) assert.equal(g.admit('192.0.2.50', REQUEST), true, 'a Trunk address');
    assert.ok(metrics.shieldDrops.get('banned') >= 150);
  });

  test('shield - IPv6 sources are counted and banned per /64', () => {
    const { g, bans } = guard({ rateLimit: { maxRequests: 20, windowMs: 1000 } });
    for (let i = 0; i < 30; i++) g.admit(`2001:db8:0:1::${(i + 1).toString(16)}`, REQUEST);
    assert.equal(bans.has('2001:db8:0:1:0:0:0:0/64'), true, 'thirty addresses of one /64 are one source');
    assert.equal(g.admit('2001:db8:0:1:ffff::1', REQUEST), false);
    assert.equal(g.admit('2001:db8:0:2::1', REQUEST), true);
  });

  test('shield - with bans off, only what goes over the limit is dropped', () => {
    const { g, bans } = guard({ rateLimit: { maxRequests: 10, windowMs: 60000 }, bans: { enabled: false } });
    const admitted = Array.from({ length: 30 }, () => g.admit('203.0.113.9', REQUEST)).filter(Boolean).length;
    assert.equal(admitted, 10);
    assert.equal(bans.size, 0);
  });
});

describe('shield - scanners and password guessing', () => {
  test('shield - the default User-Agent list catches sipvicious and friends, not phones', () => {
    const filter = new ScannerFilter(security().scanners);
    for (const ua of ['friendly-scanner', 'sipvicious', 'SIPVicious 0.3.0', 'sipcli/v1.8', 'VaxSIPUserAgent/3.1', 'sundayddr']) assert.equal(filter.matches(ua), true, ua);
    for (const ua of ['baresip v1.0.0 (x86_64/linux)', 'Linphone/5.1.0 (belle-sip/5.1.0)', 'Yealink SIP-T46S 66.86.0.15', 'Asterisk PBX 20.1.0', 'sipp', undefined]) {
      assert.equal(filter.matches(ua), false, String(ua));
    }
    assert.equal(new ScannerFilter(security({ scanners: { enabled: false } }).scanners).matches('friendly-scanner'), false);
  });

  test('shield - refusals from one source are delayed past delayAfter and banned at banAfter; a username is only delayed', async () => {
    const metrics = new Metrics();
    const bans = BanList.local();
    const config = security({ passwordGuessing: { delayAfter: 3, banAfter: 6, delayMs: 1000, usernameDelayAfter: 4 } }).passwordGuessing;
    const passwords = new PasswordGuard({ config, bans, metrics, logger: silentLogger(), ipv6PrefixLength: 64 });
    const delays = Array.from({ length: 5 }, () => passwords.failed('203.0.113.1', '1001'));
    assert.deepEqual(delays, [0, 0, 0, 1000, 1000]);
    assert.equal(passwords.delayForSuccess('203.0.113.1'), 1000, 'a source over delayAfter waits for its successes too');
    assert.equal(bans.has('203.0.113.1'), false);
    assert.equal(passwords.failed('203.0.113.1', '1001'), 1000);
    assert.equal(bans.has('203.0.113.1'), true, 'banned at the sixth failure');
    // Another source guessing the same username: delayed (the username is over its threshold), never banned.
    assert.equal(passwords.failed('198.51.100.1', '1001'), 1000);
    assert.equal(bans.has('198.51.100.1'), false);
    assert.equal(passwords.delayForSuccess('192.0.2.1'), 0, 'the rightful user from elsewhere gets in at once');
    assert.equal(passwords.failed('192.0.2.1', '1002'), 0, 'other usernames from fresh sources are not delayed');
    await bans.close();
  });
});
