// A routr app that proxies calls: INVITEs go to FORWARD_TO (tried in order, comma-separated), with a header
// saying which instance decided; every other request it is given (in-dialog BYE, CANCEL, ...) follows its
// route set as it stands. Run as many instances as you like: routr spreads requests over them.
//
//   FORWARD_TO=sip:10.0.0.9:5060 ROUTR_APP_TOKEN=... node examples/apps/forward.js
import { App } from 'routr/app';

const targets = (process.env.FORWARD_TO ?? 'sip:127.0.0.1:5070').split(',').map((uri) => uri.trim());

const app = new App({
  name: process.env.APP_NAME ?? 'forward',
  servers: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
  token: process.env.ROUTR_APP_TOKEN,
});

app.invite((req, res) => {
  // Keep the dialled user: the target names only where to send it.
  const user = /^sips?:([^@;]+)@/.exec(req.uri)?.[1];
  const uris = targets.map((t) => (user && !t.includes('@') ? t.replace(/^(sips?:)/, `$1${user}@`) : t));
  res.forward(uris, { headers: { set: { 'X-App-Instance': app.instance } } });
});
app.use((req, res) => res.forward());

app.on('connect', (server) => console.log(`connected ${app.name} ${app.instance} to ${server}`));
app.on('reconnect', (server) => console.log(`reconnected to ${server}`));
app.on('error', (err) => console.log(`error: ${err.name}: ${err.message}`));

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => app.close().then(() => process.exit(0)));
}
