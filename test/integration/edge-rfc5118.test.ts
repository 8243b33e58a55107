// Every RFC 5118 IPv6 torture message is sent to a running edge bound to ::1 (UDP and TCP); its answer is
// checked, and after each one the edge must still serve a plain OPTIONS from an IPv6 client. TCP carries them:
// the answer comes back on the connection whatever the message's (example) Via says.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { packagePath } from '../../core/paths.js';
import { freeSipPort, startRoutr, type RunningRoutr } from '../helpers/routr.js';
import { requestText, TestUA } from '../helpers/ua.js';

const dir = packagePath('test', 'fixtures', 'rfc5118');
const PROCESSED = 202; // what the test processor answers: "processed", told apart from anything else

const EXPECT: Record<string, number> = {
  'ipv6-good.dat': PROCESSED,
  'ipv6-bad.dat': 400,
  'port-ambiguous.dat': PROCESSED,
  'port-unambiguous.dat': PROCESSED,
  'via-received-param-with-delim.dat': PROCESSED,
  'via-received-param-no-delim.dat': PROCESSED,
  'ipv6-in-sdp.dat': PROCESSED,
  'mult-ip-in-header.dat': PROCESSED,
  'mult-ip-in-sdp.dat': PROCESSED,
  'ipv4-mapped-ipv6.dat': PROCESSED,
  'ipv6-bug-abnf-3-colons.dat': 400,
  'ipv6-correct-abnf-2-colons.dat': PROCESSED,
};

const rows = readFileSync(`${dir}/INDEX.tsv`, 'utf8').trim().split('\n').slice(1).map((l) => l.split('\t'));

describe('edge - RFC 5118 IPv6 torture messages on ::1', () => {
  let routr: RunningRoutr;
  let udp: TestUA;
  let port: number;

  before(async () => {
    port = await freeSipPort();
    routr = await startRoutr({
      edge: { bindAddr: '::1', transports: [{ protocol: 'udp', port }, { protocol: 'tcp', port }] },
      host: { pluginsDir: packagePath('test', 'fixtures', 'plugins'), processors: [{ ref: 'kit', plugin: 'testkit', isFallback: true, config: { status: PROCESSED } }] },
    });
    udp = await TestUA.udp(0, '::1');
  });

  after(async () => {
    await udp?.close();
    await routr?.stop();
  });

  test('edge rfc5118 - every file in INDEX.tsv has an expectation', () => {
    assert.deepEqual(rows.map((r) => r[0]).sort(), Object.keys(EXPECT).sort());
  });

  async function stillServing(): Promise<void> {
    udp.send(requestText({ method: 'OPTIONS', uri: `sip:alive@[::1]:${port}`, ua: udp }), { host: '::1', port });
    const answer = await udp.waitForResponse(PROCESSED, 'OPTIONS');
    assert.match(answer.message.headers.via[0].params.received ?? '::1', /^::1$/);
  }

  for (const [file, section, verdict, what] of rows) {
    const status = EXPECT[file];
    if (status === undefined) continue;
    test(`edge rfc5118 - ${file} (${section}, ${verdict}: ${what.split(';')[0]}) is answered ${status}, and the edge keeps serving`, async () => {
      const ua = await TestUA.tcp({ host: '::1', port });
      try {
        ua.send(readFileSync(`${dir}/${file}`));
        assert.equal(await ua.nextFinalStatus(2000), status);
      } finally {
        await ua.close();
      }
      await stillServing();
    });
  }
});
