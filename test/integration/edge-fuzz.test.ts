/**
 * A brief network fuzz run (test/fuzz/network.ts) against a live edge: mutated messages over UDP and over TCP,
 * then the edge must answer an OPTIONS over both, with nothing left unanswered that must be answered. `npm run
 * fuzz` runs the same at length.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { packagePath } from '../../core/paths.js';
import { metricValue, startRoutr, type RunningRoutr } from '../helpers/routr.js';
import { requestText, TestUA } from '../helpers/ua.js';
import { fuzzEdge } from '../fuzz/network.js';

describe('edge - network fuzz', () => {
  let routr: RunningRoutr;

  before(async () => {
    routr = await startRoutr({
      // Loopback is exempt from rate limits by default: the fuzzer is loopback too.
      host: { pluginsDir: packagePath('test', 'fixtures', 'plugins'), processors: [{ ref: 'kit', plugin: 'testkit', isFallback: true, config: { status: 200 } }] },
    });
  });

  after(async () => routr?.stop());

  test('edge fuzz - 3,000 mutated datagrams and 200 TCP connections of mutated messages; the edge still answers OPTIONS over UDP and TCP', async () => {
    const result = await fuzzEdge({ host: '127.0.0.1', port: routr.sipPort }, { datagrams: 3000, connections: 200, seed: 4475 });
    assert.equal(result.datagrams, 3000);
    const udp = await TestUA.udp();
    udp.send(requestText({ method: 'OPTIONS', uri: 'sip:alive@127.0.0.1', ua: udp }), { host: '127.0.0.1', port: routr.sipPort });
    await udp.waitForResponse(200, 'OPTIONS', 5000);
    await udp.close();
    const tcp = await TestUA.tcp({ host: '127.0.0.1', port: routr.sipPort });
    tcp.send(requestText({ method: 'OPTIONS', uri: 'sip:alive@127.0.0.1', ua: tcp }));
    await tcp.waitForResponse(200, 'OPTIONS', 5000);
    await tcp.close();
    const failures = await metricValue(routr.httpPort, 'routr_sip_parse_failures_total');
    assert.ok(failures > 100, `the fuzz reached the parser (${failures} parse failures counted)`);
  });
});
