// An accounting consumer: routr's accounting events (README "Accounting") written to PostgreSQL as CDRs.
//
//   NATS_URL=nats://127.0.0.1:4222 DATABASE_URL=postgres://routr@127.0.0.1:5432/routr node examples/accounting/cdr-postgres.js
//
// It subscribes to routr.v1.events.accounting.> on NATS, checks each event against its JSON Schema
// (config/schemas/events/accounting.*.schema.json: the contract), and inserts `accounting.call` into
// routr_cdrs and `accounting.registration` into routr_registrations (tables made if absent), keyed by the
// event's id so an event heard twice (a consumer on two NATS servers of a cluster) is stored once. Events that do
// not validate are counted and skipped, never stored half. Inserts are written one after another, in the order
// heard. `pg` (node-postgres) is the client; NATS_USER/NATS_PASS for a NATS server with authorization.
//
// Delivery is routr's: at most once, a plain NATS publish. A consumer that is down misses what was published
// meanwhile; for a ledger that must not lose a record, capture the subjects in a JetStream stream and consume it.
import { readFileSync } from 'node:fs';
import { connect } from '@nats-io/transport-node';
import { Ajv2020 } from 'ajv/dist/2020.js';
import pg from 'pg';

export const SUBJECT = 'routr.v1.events.accounting.>';

export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS routr_cdrs (
  event_id text PRIMARY KEY,
  call_id text NOT NULL,
  tenant text,
  trunk text,
  routing_type text,
  caller text,
  from_uri text NOT NULL,
  to_uri text NOT NULL,
  request_uri text NOT NULL,
  target text,
  edge text,
  host text,
  processor text,
  started_at timestamptz NOT NULL,
  answered_at timestamptz,
  ended_at timestamptz NOT NULL,
  duration_ms bigint NOT NULL,
  setup_ms bigint,
  talk_ms bigint,
  billable_seconds bigint NOT NULL,
  answered boolean NOT NULL,
  status integer,
  cause text NOT NULL,
  bye_status integer,
  record jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS routr_cdrs_tenant_started ON routr_cdrs (tenant, started_at);
CREATE TABLE IF NOT EXISTS routr_registrations (
  event_id text PRIMARY KEY,
  tenant text,
  aor text NOT NULL,
  contact text NOT NULL,
  resource text,
  kind text,
  transport text NOT NULL,
  source text NOT NULL,
  edge text,
  host text,
  registered_at timestamptz NOT NULL,
  ended_at timestamptz NOT NULL,
  duration_ms bigint NOT NULL,
  reason text NOT NULL,
  record jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS routr_registrations_tenant_ended ON routr_registrations (tenant, ended_at);
`;

const INSERT_CDR = `INSERT INTO routr_cdrs (event_id, call_id, tenant, trunk, routing_type, caller, from_uri, to_uri, request_uri, target, edge, host,
  processor, started_at, answered_at, ended_at, duration_ms, setup_ms, talk_ms, billable_seconds, answered, status, cause, bye_status, record)
  VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25) ON CONFLICT (event_id) DO NOTHING`;
const INSERT_REGISTRATION = `INSERT INTO routr_registrations (event_id, tenant, aor, contact, resource, kind, transport, source, edge, host,
  registered_at, ended_at, duration_ms, reason, record) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15) ON CONFLICT (event_id) DO NOTHING`;

/** The accounting schemas from routr's own config/schemas/events, compiled once. */
function validators() {
  const dir = new URL('../../config/schemas/events/', import.meta.url);
  const ajv = new Ajv2020({ strict: true, allErrors: true, allowUnionTypes: false });
  for (const name of ['common', 'accounting.call', 'accounting.registration']) ajv.addSchema(JSON.parse(readFileSync(new URL(`${name}.schema.json`, dir), 'utf8')));
  return {
    'accounting.call': ajv.getSchema('https://routr.dev/schemas/v1/events/accounting.call.json'),
    'accounting.registration': ajv.getSchema('https://routr.dev/schemas/v1/events/accounting.registration.json'),
  };
}

function rowOf(event) {
  if (event.type === 'accounting.call') {
    return [INSERT_CDR, [event.id, event.callId, event.tenant, event.trunk, event.routingType, event.aor, event.from, event.to, event.uri, event.target, event.edge, event.host,
      event.processor, event.startedAt, event.answeredAt, event.endedAt, event.durationMs, event.setupMs, event.talkMs, event.billableSeconds, event.answered, event.status, event.cause, event.byeStatus, event]];
  }
  const source = `${event.source.host}:${event.source.port}`;
  return [INSERT_REGISTRATION, [event.id, event.tenant, event.aor, event.contact, event.resource, event.kind, event.transport, source, event.edge, event.host,
    event.registeredAt, event.endedAt, event.durationMs, event.reason, event]];
}

/**
 * Start consuming. `servers`: NATS URL(s); `database`: a pg connection string or config. Resolves once the tables
 * exist and the subscription is live, with `stats` and `close()`.
 */
export async function startCdrConsumer({ servers, database, user, pass, onError = (err) => console.error(`cdr-postgres: ${err.message}`) }) {
  const pool = new pg.Pool(typeof database === 'string' ? { connectionString: database, max: 2 } : { max: 2, ...database });
  await pool.query(SCHEMA_SQL);
  const nc = await connect({ servers, ...(user ? { user, pass } : {}), name: 'routr-cdr-postgres' });
  const check = validators();
  const stats = { received: 0, inserted: 0, duplicates: 0, invalid: 0, failed: 0 };
  const decoder = new TextDecoder();
  let writes = Promise.resolve();
  const subscription = nc.subscribe(SUBJECT, {
    callback: (err, msg) => {
      if (err) return onError(err);
      stats.received++;
      let event;
      try {
        event = JSON.parse(decoder.decode(msg.data));
      } catch {
        stats.invalid++;
        return;
      }
      const validate = check[event?.type];
      if (!validate || !validate(event)) {
        stats.invalid++;
        onError(new Error(`skipped an event that is not a valid ${event?.type ?? 'accounting event'}: ${JSON.stringify(validate?.errors ?? [])}`));
        return;
      }
      const [sql, values] = rowOf(event);
      writes = writes.then(async () => {
        try {
          const result = await pool.query(sql, values);
          if (result.rowCount === 1) stats.inserted++;
          else stats.duplicates++;
        } catch (failure) {
          stats.failed++;
          onError(failure);
        }
      });
    },
  });
  await nc.flush();
  return {
    stats,
    async close() {
      await subscription.drain();
      await writes;
      await nc.close();
      await pool.end();
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const consumer = await startCdrConsumer({
    servers: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
    database: process.env.DATABASE_URL ?? 'postgres://routr@127.0.0.1:5432/routr',
    user: process.env.NATS_USER,
    pass: process.env.NATS_PASS,
  });
  console.log(`cdr-postgres: writing ${SUBJECT} to PostgreSQL`);
  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.once(signal, () => consumer.close().then(() => process.exit(0)));
  }
}
