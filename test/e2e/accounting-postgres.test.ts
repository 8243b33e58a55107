/**
 * Accounting end to end: routr on a real nats-server, sipp calls through the Connect processor out of a tenant's
 * Trunk — one answered (held 1.5 s), one busy (rings 0.8 s, then 486), one cancelled (rings 0.6 s, then
 * CANCEL) — and a registration with its unregistration. Every accounting event validates against its schema,
 * and the example consumer (examples/accounting/cdr-postgres.js, on `pg`) writes each as a row of a real
 * PostgreSQL this test starts (initdb + pg_ctl on a free port, never the machine's own server), with the tenant,
 * the Trunk, the routing type, the final status and durations that match what sipp did.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { connectNatsBus } from '../../core/bus/index.js';
import type { Bus } from '../../core/bus/types.js';
import { validator } from '../../core/config/schemas.js';
import { eventSchemaName, subscribeEvents, type RoutrEvent } from '../../core/events/index.js';
import { silentLogger } from '../../core/log.js';
import { packagePath } from '../../core/paths.js';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { startPostgres, type PostgresHandle } from '../helpers/postgres.js';
import { freeSipPort, startRoutr, type RunningRoutr } from '../helpers/routr.js';
import { waitFor } from '../helpers/wait.js';
import { expectCalls, SippRunner, startUas, type SippRun } from './connect-support.js';

const DOMAIN = 'sip.local';
const CALLER = { username: '1001', password: 'acme-1001-secret' };

interface Consumer {
  stats: { received: number; inserted: number; duplicates: number; invalid: number; failed: number };
  close(): Promise<void>;
}

function resources(carrierPort: number): string {
  return `
- { apiVersion: v2beta1, kind: Domain, ref: domain-acme, metadata: { tenant: acme }, spec: { context: { domainUri: ${DOMAIN}, egressPolicies: [{ rule: "^\\\\+?[0-9]{7,15}$", numberRef: number-acme }] } } }
- { apiVersion: v2beta1, kind: Credentials, ref: cred-1001, metadata: { tenant: acme }, spec: { credentials: { username: "${CALLER.username}", password: "${CALLER.password}" } } }
- { apiVersion: v2beta1, kind: Agent, ref: agent-1001, metadata: { tenant: acme }, spec: { username: "${CALLER.username}", domainRef: domain-acme, credentialsRef: cred-1001 } }
- { apiVersion: v2beta1, kind: Trunk, ref: trunk-carrier, metadata: { tenant: acme }, spec: { outbound: { uris: [{ uri: { host: 127.0.0.1, port: ${carrierPort}, transport: udp } }] } } }
- { apiVersion: v2beta1, kind: Number, ref: number-acme, metadata: { tenant: acme }, spec: { trunkRef: trunk-carrier, location: { telUrl: "tel:+19100000001" } } }
`;
}

describe('accounting - CDRs of sipp calls in PostgreSQL', () => {
  let dir: string;
  let postgres: PostgresHandle;
  let nats: NatsServerHandle;
  let routr: RunningRoutr;
  let observer: Bus;
  let consumer: Consumer;
  let db: pg.Client;
  let sipp: SippRunner;
  let carrierPort: number;
  const heard: RoutrEvent[] = [];

  const uac = (run: SippRun) => sipp.run({ remotePort: routr.sipPort, calls: 1, timeoutSeconds: 20, ...run });
  const call = (scenario: string, dialled: string, pauseMs: number) =>
    uac({ scenario, service: dialled, pauseMs, auth: { ...CALLER, uri: `${dialled}@${DOMAIN}` }, keys: { caller: CALLER.username, from_host: DOMAIN, to_host: DOMAIN, extra_header: 'X-Routr-Test: accounting' } });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'routr-accounting-'));
    sipp = new SippRunner(dir);
    [postgres, nats] = await Promise.all([startPostgres(), startNatsServer({ jetstream: true })]);
    carrierPort = await freeSipPort();
    writeFileSync(join(dir, 'resources.yaml'), resources(carrierPort));
    routr = await startRoutr({
      bus: { url: nats.url },
      resources: { provider: 'files', path: dir },
      host: { processors: [{ ref: 'connect', isFallback: true, config: { algorithms: ['MD5', 'SHA-256'] } }] },
    });
    observer = await connectNatsBus(nats.url, { name: 'accounting-observer', logger: silentLogger() });
    subscribeEvents(observer, (e) => heard.push(e), { types: ['accounting.>'] });
    await observer.flush();
    const example = (await import(packagePath('examples', 'accounting', 'cdr-postgres.js'))) as { startCdrConsumer(options: Record<string, unknown>): Promise<Consumer> };
    consumer = await example.startCdrConsumer({ servers: nats.url, database: postgres.url, onError: () => undefined });
    db = new pg.Client({ connectionString: postgres.url });
    await db.connect();
  });

  after(async () => {
    await sipp?.stopAll();
    await db?.end().catch(() => undefined);
    await consumer?.close().catch(() => undefined);
    await observer?.close();
    await routr?.stop();
    await nats?.stop();
    await postgres?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('accounting - answered, busy and cancelled calls become valid accounting events and rows with the right durations', async () => {
    const answered = await startUas(sipp, { scenario: 'connect-uas-answer-200.xml', port: carrierPort, calls: 1 });
    expectCalls(await call('connect-auth-call-expect-200.xml', '+15550000001', 1500), 1, 'the answered call');
    expectCalls(await answered.finish(), 1, 'the carrier answered');
    const busy = await sipp.start({ scenario: 'connect-uas-ring-answer-486.xml', localPort: carrierPort, calls: 1, pauseMs: 800, timeoutSeconds: 20 });
    await new Promise((r) => setTimeout(r, 250));
    expectCalls(await call('connect-auth-call-expect-486.xml', '+15550000002', 0), 1, 'the busy call');
    expectCalls(await busy.result, 1, 'the carrier was busy');
    const ringing = await startUas(sipp, { scenario: 'connect-uas-ring-expect-cancel.xml', port: carrierPort, calls: 1 });
    expectCalls(await call('connect-auth-call-cancel-expect-487.xml', '+15550000003', 600), 1, 'the cancelled call');
    expectCalls(await ringing.finish(), 1, 'the carrier saw the CANCEL');

    await waitFor(async () => Number((await db.query('SELECT count(*) AS n FROM routr_cdrs')).rows[0].n) === 3, { timeoutMs: 10_000, what: 'three CDR rows' });
    const cdrs = heard.filter((e): e is RoutrEvent<'accounting.call'> => e.type === 'accounting.call');
    assert.equal(cdrs.length, 3, 'one accounting event per call');
    for (const e of cdrs) assert.ok(validator(eventSchemaName(e.type))(e), `${JSON.stringify(validator(eventSchemaName(e.type)).errors)}\n${JSON.stringify(e)}`);

    const { rows } = await db.query('SELECT * FROM routr_cdrs ORDER BY started_at');
    const byNumber = (n: string) => rows.find((r) => String(r.request_uri).startsWith(`sip:${n}@`));
    for (const row of rows) {
      assert.equal(row.tenant, 'acme');
      assert.equal(row.trunk, 'trunk-carrier');
      assert.equal(row.routing_type, 'agent-to-pstn');
      assert.equal(row.caller, `sip:1001@${DOMAIN}`);
      assert.ok(row.ended_at.getTime() - row.started_at.getTime() === Number(row.duration_ms), 'duration is end - start');
      assert.equal(row.record.id, row.event_id);
    }
    const talk = byNumber('+15550000001');
    assert.equal(talk.status, 200);
    assert.equal(talk.cause, 'bye');
    assert.equal(talk.bye_status, 200);
    assert.equal(talk.answered, true);
    // sipp holds the call 1.5 s (-d 1500), then sends INFO and BYE: talk lasts that long plus two round trips.
    assert.ok(Number(talk.talk_ms) >= 1450 && Number(talk.talk_ms) < 3500, `talk_ms ${talk.talk_ms}`);
    assert.equal(Number(talk.billable_seconds), Math.ceil(Number(talk.talk_ms) / 1000));
    assert.ok(Number(talk.duration_ms) >= Number(talk.talk_ms) + Number(talk.setup_ms));

    const engaged = byNumber('+15550000002');
    assert.deepEqual([engaged.status, engaged.cause, engaged.answered, engaged.talk_ms, Number(engaged.billable_seconds), engaged.answered_at], [486, 'failure', false, null, 0, null]);
    assert.ok(Number(engaged.duration_ms) >= 750 && Number(engaged.duration_ms) < 3000, `the busy call rang 0.8 s: duration_ms ${engaged.duration_ms}`);

    const gaveUp = byNumber('+15550000003');
    assert.deepEqual([gaveUp.status, gaveUp.cause, gaveUp.answered, gaveUp.talk_ms], [487, 'cancel', false, null]);
    assert.ok(Number(gaveUp.duration_ms) >= 550 && Number(gaveUp.duration_ms) < 3000, `the cancelled call rang 0.6 s: duration_ms ${gaveUp.duration_ms}`);
    assert.equal(consumer.stats.invalid, 0);
    assert.equal(consumer.stats.failed, 0);
  });

  test('accounting - a registration ends as a valid accounting event and a row naming its Agent and tenant', async () => {
    const port = await freeSipPort();
    expectCalls(await uac({ scenario: 'connect-unregister-expect-200.xml', service: CALLER.username, localPort: port, auth: { ...CALLER, uri: DOMAIN } }), 1, 'register, then unregister');
    await waitFor(async () => Number((await db.query('SELECT count(*) AS n FROM routr_registrations')).rows[0].n) === 1, { timeoutMs: 10_000, what: 'a registration row' });
    const event = heard.find((e): e is RoutrEvent<'accounting.registration'> => e.type === 'accounting.registration');
    assert.ok(event && validator(eventSchemaName(event.type))(event), JSON.stringify(event));
    const { rows } = await db.query('SELECT * FROM routr_registrations');
    const [row] = rows;
    assert.deepEqual([row.tenant, row.aor, row.resource, row.kind, row.transport, row.reason], ['acme', `sip:1001@${DOMAIN}`, 'agent-1001', 'Agent', 'udp', 'unregistered']);
    assert.equal(row.source, `127.0.0.1:${port}`);
    assert.ok(Number(row.duration_ms) >= 0 && Number(row.duration_ms) < 5000);
  });
});
