// The smallest routr app: every INVITE it is given is answered 486 Busy Here.
//
//   ROUTR_APP_TOKEN=... node examples/apps/busy.js            (NATS at nats://127.0.0.1:4222)
//   NATS_URL=nats://10.0.0.1:4222,nats://10.0.0.2:4222 APP_NAME=busy ROUTR_APP_TOKEN=... node examples/apps/busy.js
//
// routr's config names it: spec.host.apps: [{ name: busy, tokenEnv: BUSY_TOKEN }] and a processor entry
// { ref: busy, app: busy, methods: [INVITE] }. Each answer carries X-App-Instance, so you can see several
// instances share the load. SIGTERM (or Ctrl-C) closes it gracefully: requests in flight are answered first.
import { App } from 'routr/app';

const app = new App({
  name: process.env.APP_NAME ?? 'busy',
  servers: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
  token: process.env.ROUTR_APP_TOKEN,
  nats: process.env.NATS_USER ? { user: process.env.NATS_USER, pass: process.env.NATS_PASS } : undefined,
});

app.invite((req, res) => {
  res.send(486, 'Busy Here', { 'X-App-Instance': app.instance });
});

app.on('connect', (server) => console.log(`connected ${app.name} ${app.instance} to ${server}`));
app.on('reconnect', (server) => console.log(`reconnected to ${server}`));
app.on('disconnect', () => console.log('disconnected'));
app.on('error', (err) => console.log(`error: ${err.name}: ${err.message}`));

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => app.close().then(() => process.exit(0)));
}
