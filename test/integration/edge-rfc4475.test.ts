// Every RFC 4475 torture message is sent to a running edge; its answer (or its silent drop) is checked, and
// after each one the edge must still serve a plain OPTIONS. TCP carries most of them because the answer comes
// back on the connection whatever the message's Via says; the UDP-only cases (a datagram with trailing bytes,
// a Content-Length larger than the datagram, a message with no Content-Length) are checked through the edge's
// response counters, since their answers go to the example hosts' Via ports.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { packagePath } from '../../core/paths.js';
import { metricValue, startRoutr, type RunningRoutr } from '../helpers/routr.js';
import { requestText, TestUA } from '../helpers/ua.js';

const dir = packagePath('test', 'fixtures', 'rfc4475');
const PROCESSED = 202; // what the test processor answers, so "processed" is told apart from anything else

type Expect =
  | { answer: number; transport?: 'tcp' | 'udp' }
  | { drop: true; transport?: 'tcp' | 'udp' };

/** What the edge must do with each file; every file in INDEX.tsv must be listed. */
const EXPECT: Record<string, Expect> = {
  'wsinv.dat': { answer: PROCESSED },
  'intmeth.dat': { answer: PROCESSED },
  'esc01.dat': { answer: PROCESSED },
  'escnull.dat': { answer: PROCESSED },
  'esc02.dat': { answer: PROCESSED },
  'lwsdisp.dat': { answer: PROCESSED },
  'longreq.dat': { answer: PROCESSED },
  'dblreq.dat': { answer: PROCESSED, transport: 'udp' },
  'semiuri.dat': { answer: PROCESSED },
  'transports.dat': { answer: PROCESSED },
  'mpart01.dat': { answer: PROCESSED },
  'unreason.dat': { drop: true },
  'noreason.dat': { drop: true },
  'badinv01.dat': { answer: 400 },
  'clerr.dat': { answer: 400, transport: 'udp' },
  'ncl.dat': { answer: 400, transport: 'udp' }, // a negative Content-Length cannot frame a stream
  'scalar02.dat': { answer: 400 },
  'scalarlg.dat': { drop: true },
  'quotbal.dat': { answer: 400 },
  'ltgtruri.dat': { answer: 400 },
  'lwsruri.dat': { answer: 400 },
  'lwsstart.dat': { answer: 400 },
  'trws.dat': { answer: 400 },
  'escruri.dat': { answer: 400 },
  'baddate.dat': { answer: PROCESSED }, // INDEX allows 400 or forwarding untouched; routr does not interpret Date
  'regbadct.dat': { answer: 400 },
  'badaspec.dat': { answer: 400 },
  'baddn.dat': { answer: 400, transport: 'udp' }, // its Content-Length overruns the body: a stream would wait
  'badvers.dat': { answer: 505 },
  'mismatch01.dat': { answer: 400 },
  'mismatch02.dat': { answer: 400 },
  'bigcode.dat': { drop: true },
  'badbranch.dat': { answer: PROCESSED },
  'insuf.dat': { answer: 400 },
  'unkscm.dat': { answer: 416 },
  'novelsc.dat': { answer: 416 },
  'unksm2.dat': { answer: PROCESSED },
  'bext01.dat': { answer: 420 },
  'invut.dat': { answer: PROCESSED }, // the edge passes it on; Connect's answer: connect-rfc4475.test.ts
  'regaut01.dat': { answer: PROCESSED }, // the edge passes it on; Connect's answer: connect-rfc4475.test.ts
  'multi01.dat': { answer: 400 },
  'mcl01.dat': { answer: 400, transport: 'udp' }, // conflicting Content-Lengths cannot frame a stream
  'bcast.dat': { drop: true },
  'zeromf.dat': { answer: 483 },
  'cparam01.dat': { answer: PROCESSED }, // the edge passes it on; Connect's answer: connect-rfc4475.test.ts
  'cparam02.dat': { answer: PROCESSED }, // the edge passes it on; Connect's answer: connect-rfc4475.test.ts
  'regescrt.dat': { answer: PROCESSED }, // the edge passes it on; Connect's answer: connect-rfc4475.test.ts
  'sdp01.dat': { answer: PROCESSED }, // the edge passes it on; Connect's answer: connect-rfc4475.test.ts
  'inv2543.dat': { answer: PROCESSED, transport: 'udp' },
};

const rows = readFileSync(`${dir}/INDEX.tsv`, 'utf8').trim().split('\n').slice(1).map((l) => l.split('\t'));

describe('edge - RFC 4475 torture messages', () => {
  let routr: RunningRoutr;
  let udp: TestUA;

  before(async () => {
    routr = await startRoutr({
      host: { pluginsDir: packagePath('test', 'fixtures', 'plugins'), processors: [{ ref: 'kit', plugin: 'testkit', isFallback: true, config: { status: PROCESSED } }] },
    });
    udp = await TestUA.udp();
  });

  after(async () => {
    await udp?.close();
    await routr?.stop();
  });

  test('edge rfc4475 - every file in INDEX.tsv has an expectation', () => {
    assert.deepEqual(rows.map((r) => r[0]).sort(), Object.keys(EXPECT).sort());
  });

  async function stillServing(): Promise<void> {
    udp.send(requestText({ method: 'OPTIONS', uri: 'sip:alive@127.0.0.1', ua: udp }), { host: '127.0.0.1', port: routr.sipPort });
    await udp.waitForResponse(PROCESSED, 'OPTIONS');
  }

  /** Final responses the edge sent with `status`, from its counters. */
  const sent = (status: number) => metricValue(routr.httpPort, 'routr_sip_messages_out_total', { kind: 'response', status: String(status) });

  async function overTcp(bytes: Buffer, expect: Expect): Promise<void> {
    const ua = await TestUA.tcp({ host: '127.0.0.1', port: routr.sipPort });
    try {
      ua.send(bytes);
      if ('drop' in expect) {
        assert.ok(await ua.nothingWithin(300), 'no answer to a message that must be dropped');
      } else {
        // The answer copies the request's own (malformed) To, CSeq or Via, so read its status line raw.
        assert.equal(await ua.nextFinalStatus(2000), expect.answer);
      }
    } finally {
      await ua.close();
    }
  }

  async function overUdp(bytes: Buffer, expect: Expect): Promise<void> {
    const status = 'drop' in expect ? 0 : expect.answer;
    const before = await sent(status);
    udp.send(bytes, { host: '127.0.0.1', port: routr.sipPort });
    const deadline = Date.now() + 2000;
    while ((await sent(status)) === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal((await sent(status)) - before, 1, `the edge answered ${status} once`);
  }

  for (const [file, section, verdict, what] of rows) {
    const expect = EXPECT[file];
    if (!expect) continue;
    const label = 'drop' in expect ? 'dropped' : `answered ${expect.answer}`;
    test(`edge rfc4475 - ${file} (${section}, ${verdict}: ${what}) is ${label}, and the edge keeps serving`, async () => {
      const bytes = readFileSync(`${dir}/${file}`);
      if (expect.transport === 'udp') await overUdp(bytes, expect);
      else await overTcp(bytes, expect);
      await stillServing();
    });
  }
});
