// A web callback (routr's spec.host.requestHandlers) that distributes calls by DID, the first of the two
// scenarios in APPS.md: numbers in VOICEMAIL_DIDS go to the connected app "voicemail", numbers in BUSY_DIDS are
// refused 486, and every other call is handed off to this server's own /handoff endpoint, which routr POSTs
// the request to and which answers with a decision (the per-request "outbound connection").
//
//   PORT=8090 FORWARD_TO=sip:10.0.0.9:5060 node examples/apps/web-callback.js
//   routr: spec.host.requestHandlers: [{ method: INVITE, url: http://127.0.0.1:8090/route }]
import http from 'node:http';
import { handoff, nodeListener, webCallback } from 'routr/app';

const voicemail = new Set((process.env.VOICEMAIL_DIDS ?? '').split(',').filter(Boolean));
const busy = new Set((process.env.BUSY_DIDS ?? '').split(',').filter(Boolean));
const port = Number(process.env.PORT ?? 8090);
const forwardTo = process.env.FORWARD_TO ?? 'sip:127.0.0.1:5070';

const route = webCallback((query) => {
  const did = /^sips?:([^@;]+)@/.exec(query.to)?.[1] ?? '';
  if (voicemail.has(did)) return { app: 'voicemail' };
  if (busy.has(did)) return { action: 'respond', status: 486, reason: 'Busy Here' };
  return { url: `http://127.0.0.1:${port}/handoff` };
});

const decide = handoff((req, res) => {
  res.forward(forwardTo, { headers: { set: { 'X-Handed-Off': req.callId } } });
});

const server = http.createServer(nodeListener((request) => (new URL(request.url).pathname === '/handoff' ? decide(request) : route(request))));
server.listen(port, '127.0.0.1', () => console.log(`web callback listening on http://127.0.0.1:${port}/route`));

for (const signal of ['SIGTERM', 'SIGINT']) process.once(signal, () => server.close(() => process.exit(0)));
