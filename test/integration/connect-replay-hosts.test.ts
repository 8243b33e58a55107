/**
 * A replayed Authorization sent to two hosts at the same moment (the window in which a KV mirror had not yet
 * told one host what the other accepted): the nonce-count is claimed by compare-and-set on the JetStream KV
 * bucket before a host replies, so exactly one host accepts it and the other answers a fresh challenge. Real
 * nats-server with JetStream, two hosts running Connect in real sandboxes; envelopes as an edge sends them.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { digestAuthorization } from '../helpers/digest.js';
import { decide, envelope, statusOf } from '../helpers/envelopes.js';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { startRoutr, type RunningRoutr } from '../helpers/routr.js';

const RESOURCES = `
- { apiVersion: v2beta1, kind: Domain, ref: domain-01, spec: { context: { domainUri: sip.test } } }
- { apiVersion: v2beta1, kind: Agent, ref: agent-1001, spec: { username: "1001", domainRef: domain-01, credentialsRef: cred-1001 } }
- { apiVersion: v2beta1, kind: Credentials, ref: cred-1001, spec: { credentials: { username: "1001", password: "s3cret" } } }
`;

describe('connect - a replay raced to two hosts', () => {
  let nats: NatsServerHandle;
  let hosts: RunningRoutr[] = [];
  let dir: string;

  before(async () => {
    nats = await startNatsServer({ jetstream: true });
    dir = await mkdtemp(join(tmpdir(), 'routr-replay-'));
    await writeFile(join(dir, 'resources.yaml'), RESOURCES);
    const spec = {
      bus: { url: nats.url },
      resources: { provider: 'files' as const, path: dir },
      host: { auth: { nonceSecret: 'a-secret-both-hosts-share' }, processors: [{ ref: 'connect', isFallback: true, config: { algorithms: ['MD5' as const] } }] },
    };
    hosts = [await startRoutr(spec, { role: 'host' }), await startRoutr(spec, { role: 'host' })];
  });

  after(async () => {
    for (const h of hosts) await h.stop();
    await nats?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('connect replay - the same Authorization decided by two hosts at once: one 200, one 401 with a fresh challenge', async () => {
    const [a, b] = hosts.map((h) => h.server.host!);
    const register = (headers: string[] = []) => {
      const env = envelope('REGISTER', 'sip:sip.test', { headers: [...headers, 'Contact: <sip:1001@127.0.0.1:5099>'] });
      env.message.headers.from = { uri: 'sip:1001@sip.test', params: { tag: 'a' } };
      env.message.headers.to = { uri: 'sip:1001@sip.test', params: {} };
      return env;
    };
    for (let round = 0; round < 5; round++) {
      const challenged = await decide(a!, register());
      assert.equal(statusOf(challenged), 401);
      const header = ('decision' in challenged && challenged.decision.action === 'respond' ? challenged.decision.headers?.['WWW-Authenticate'] : undefined) as string[] | string;
      const value = Array.isArray(header) ? header[0]! : header;
      const params = Object.fromEntries([...value.matchAll(/(\w+)="?([^",]+)"?/g)].map((m) => [m[1], m[2]])) as Record<string, string>;
      const authorization = digestAuthorization({ realm: params.realm!, nonce: params.nonce!, algorithm: 'MD5', qop: 'auth' }, { username: '1001', password: 's3cret', method: 'REGISTER', uri: 'sip:sip.test', nc: 1, cnonce: `c${round}` });
      const answered = register([`Authorization: ${authorization}`]);
      const replies = await Promise.all([decide(a!, answered), decide(b!, answered)]);
      assert.deepEqual(replies.map(statusOf).sort(), [200, 401], `round ${round}: one host accepts, the other refuses the replay`);
      const refused = replies.find((r) => statusOf(r) === 401)!;
      const fresh = 'decision' in refused && refused.decision.action === 'respond' ? refused.decision.headers?.['WWW-Authenticate'] : undefined;
      assert.match(String(fresh), /nonce="(?!${params.nonce})/, 'with a fresh nonce');
    }
  });
});
