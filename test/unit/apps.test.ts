import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { answerOf, queryOf } from '../../core/apps/handlers.js';
import { runtimeMac } from '../../core/apps/index.js';
import { AppSigner, decodeFrame, instanceSubject, presenceSubject } from '../../core/apps/protocol.js';
import { AppRequest, AppResponse, App } from '../../core/apps/sdk/index.js';
import { ConfigError, parseServerConfig } from '../../core/config/server.js';
import type { Decision } from '../../core/envelope.js';
import { envelope } from '../helpers/envelopes.js';

const TOKEN = 'unit-test-token-0123456789';

function problems(host: Record<string, unknown>, edge: Record<string, unknown> = {}): string[] {
  try {
    parseServerConfig({ apiVersion: 'v2beta1', kind: 'Server', ref: 't', spec: { host, edge } });
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
}

describe('apps config - processor entries, apps and request handlers', () => {
  test('apps config - a valid set passes, with defaults filled in', () => {
    const config = parseServerConfig({
      apiVersion: 'v2beta1', kind: 'Server', ref: 't',
      spec: { host: { apps: [{ name: 'vm', token: TOKEN }], processors: [{ ref: 'voicemail', app: 'vm', methods: ['INVITE'] }], requestHandlers: [{ method: 'INVITE', url: 'https://apps.example.com/route' }] } },
    });
    assert.equal(config.spec.host.apps[0].auth, 'token');
    assert.deepEqual(config.spec.host.requestHandlers[0], { method: 'INVITE', url: 'https://apps.example.com/route' });
  });

  test('apps config - what the schema refuses, each with its path', () => {
    const found = problems({
      apps: [{ name: 'short', token: 'abc' }],
      requestHandlers: [{ method: 'BYE', url: 'ftp://c/' }, { method: 'OPTIONS', url: 'http://e/', headers: { 'X-Bad': 'a\r\nb' } }],
    });
    for (const pattern of [/apps\/0\/token: must NOT have fewer than 16/, /requestHandlers\/0\/url: must match/, /requestHandlers\/1\/headers\/X-Bad: must match/]) {
      assert.ok(found.some((p) => pattern.test(p)), `${pattern} in\n${found.join('\n')}`);
    }
  });

  test('apps config - what only a cross-check can see, every problem at once', () => {
    const found = problems({
      apps: [{ name: 'vm', token: TOKEN, tokenEnv: 'VM_TOKEN' }, { name: 'vm', auth: 'nats', token: TOKEN }],
      processors: [
        { ref: 'a', app: 'vm', plugin: 'static' },
        { ref: 'b', app: 'ghost' },
        { ref: 'c', app: 'vm', config: {} },
        { ref: 'd', plugin: 'static', timeoutMs: 100 },
        { ref: 'e', app: 'vm', timeoutMs: 5000 },
      ],
      requestHandlers: [
        { method: 'INVITE', url: 'http://a/' },
        { method: 'INVITE', url: 'http://b/' },
        { method: '*', url: 'http://d/', timeoutMs: 2000, handoffTimeoutMs: 1500 },
      ],
    });
    const expected = [
      /apps\/0: set token or tokenEnv/,
      /apps\/1\/name: duplicate app "vm"/,
      /apps\/1: auth: nats takes no token/,
      /processors\/0\/app: an entry names a plugin or an app, not both/,
      /processors\/1\/app: app "ghost" is not declared/,
      /processors\/2\/app: config and limits are for plugins/,
      /processors\/3\/timeoutMs: timeoutMs is for app entries/,
      /processors\/4\/timeoutMs: must be below spec.edge.decisionTimeoutMs \(3000\)/,
      /requestHandlers\/1\/method: a second request handler for INVITE/,
      /requestHandlers\/2: timeoutMs \+ handoffTimeoutMs must be below/,
    ];
    for (const pattern of expected) assert.ok(found.some((p) => pattern.test(p)), `${pattern} in\n${found.join('\n')}`);
    assert.equal(found.length, expected.length, found.join('\n'));
  });
});

describe('apps config - bus credentials', () => {
  test('apps config - a bus password goes with a user', () => {
    const bad = (() => {
      try {
        parseServerConfig({ apiVersion: 'v2beta1', kind: 'Server', ref: 't', spec: { bus: { url: 'nats://127.0.0.1:4222', password: 'secret' } } });
        return [];
      } catch (err) {
        return (err as ConfigError).problems;
      }
    })();
    assert.deepEqual(bad, ['Server t /spec/bus/password: a password goes with a user']);
    assert.equal(parseServerConfig({ apiVersion: 'v2beta1', kind: 'Server', ref: 't', spec: { bus: { url: 'nats://h:4222', user: 'routr', password: 'secret' } } }).spec.bus.user, 'routr');
  });
});

describe('apps protocol - subjects and signed frames', () => {
  test('apps protocol - subjects are versioned and escape names', () => {
    assert.equal(presenceSubject('voice_mail'), 'routr.v1.apps.voice_5fmail.presence');
    assert.equal(instanceSubject('vm', 'abc123def456'), 'routr.v1.apps.vm.instance.abc123def456');
  });

  test('apps protocol - a frame verifies only for its app, kind, context and bytes', async () => {
    const signer = await AppSigner.create('vm', TOKEN);
    const frame = decodeFrame(await signer.frame('reply', 'req-1', '{"id":"req-1"}'));
    assert.ok(frame);
    assert.equal(await signer.verify('reply', 'req-1', frame.json, frame.signature), true);
    assert.equal(await signer.verify('reply', 'req-2', frame.json, frame.signature), false, 'another request');
    assert.equal(await signer.verify('request', 'req-1', frame.json, frame.signature), false, 'another kind');
    assert.equal(await signer.verify('reply', 'req-1', '{"id":"req-1" }', frame.signature), false, 'other bytes');
    assert.equal(await (await AppSigner.create('vm2', TOKEN)).verify('reply', 'req-1', frame.json, frame.signature), false, 'another app');
    assert.equal(await (await AppSigner.create('vm', `${TOKEN}x`)).verify('reply', 'req-1', frame.json, frame.signature), false, 'another token');
    assert.equal(await signer.verify('reply', 'req-1', frame.json, '-'), false, 'unsigned');
    assert.equal(frame.json.includes(TOKEN), false);
  });

  test('apps protocol - the host\'s HMAC and the SDK\'s Web Crypto sign alike', async () => {
    const host = await AppSigner.create('vm', TOKEN, runtimeMac);
    const sdk = await AppSigner.create('vm', TOKEN);
    for (const json of ['{}', '{"id":"x","decision":{"action":"respond","status":486}}', 'é'.repeat(1000)]) {
      const signed = await host.frame('reply', 'r1', json);
      assert.deepEqual(signed, await sdk.frame('reply', 'r1', json));
      const frame = decodeFrame(signed)!;
      assert.equal(frame.signature.length, 43);
      assert.equal(await sdk.verify('reply', 'r1', frame.json, frame.signature), true);
    }
  });

  test('apps protocol - with auth: nats frames go unsigned and every signature passes', async () => {
    const signer = await AppSigner.create('vm', undefined);
    assert.equal(new TextDecoder().decode(await signer.frame('presence', 'i', '{}')), '-\n{}');
    assert.equal(await signer.verify('presence', 'i', '{}', '-'), true);
  });
});

describe('apps handlers - query and answers', () => {
  test('apps handlers - drachtio-style parameters from the envelope', () => {
    const env = { ...envelope('INVITE', 'sip:+15551234@127.0.0.1'), sender: { host: '::1', port: 5099, transport: 'tcp' as const } };
    assert.deepEqual(queryOf('INVITE', JSON.stringify(env)), {
      method: 'INVITE', callId: 'plugins-test@127.0.0.1', uri: 'sip:+15551234@127.0.0.1', from: 'sip:alice@127.0.0.1', to: 'sip:+15551234@127.0.0.1', source: '[::1]:5099', transport: 'tcp',
    });
  });

  test('apps handlers - decisions, {app} and {url} are answers; anything else is not', () => {
    assert.deepEqual(answerOf({ action: 'respond', status: 486 }), { kind: 'decision', decision: { action: 'respond', status: 486 } });
    assert.deepEqual(answerOf({ app: 'vm' }), { kind: 'app', app: 'vm' });
    assert.equal((answerOf({ url: 'https://x.example/h' }) as { url: URL }).url.href, 'https://x.example/h');
    for (const bad of [null, [], 'text', { action: 'respond', status: 99 }, { app: 'Bad Name' }, { url: 'file:///etc/passwd' }, { url: 'nope' }, { app: 'vm', url: 'http://x/' }, { foo: 1 }]) {
      assert.throws(() => answerOf(bad), { name: 'HandlerFailure' }, JSON.stringify(bad));
    }
  });
});

describe('apps sdk - requests and responses', () => {
  test('apps sdk - req.get writes headers as on the wire, by any spelling', () => {
    const req = new AppRequest(envelope('INVITE', 'sip:1@127.0.0.1', { headers: ['X-Custom: yes', 'Contact: <sip:a@1.2.3.4>;expires=60'] }), 1000);
    assert.equal(req.get('From'), '<sip:alice@127.0.0.1>;tag=a');
    assert.equal(req.get('f'), '<sip:alice@127.0.0.1>;tag=a');
    assert.equal(req.get('cseq'), '1 INVITE');
    assert.equal(req.get('x-custom'), 'yes');
    assert.equal(req.get('m'), '<sip:a@1.2.3.4>;expires=60');
    assert.equal(req.get('X-Missing'), undefined);
    assert.equal(req.has('X-Custom'), true);
    assert.equal(req.method, 'INVITE');
    assert.equal(req.callId, 'plugins-test@127.0.0.1');
    assert.ok(req.deadline > Date.now());
  });

  test('apps sdk - res.send and res.forward build decisions; a second answer throws', () => {
    const decisions: Decision[] = [];
    const res = () => new AppResponse((d) => decisions.push(d));
    res().send(486);
    res().send(486, 'Busy Here');
    res().send(302, { Contact: '<sip:x@y>' });
    res().send(302, 'Moved', { Contact: '<sip:x@y>' });
    res().forward('sip:a@b');
    res().forward(['sip:a@b', { uri: 'sip:c@d' }], { recordRoute: false, headers: { set: { 'X-A': '1' } } });
    res().forward();
    assert.deepEqual(decisions, [
      { action: 'respond', status: 486 },
      { action: 'respond', status: 486, reason: 'Busy Here' },
      { action: 'respond', status: 302, headers: { Contact: '<sip:x@y>' } },
      { action: 'respond', status: 302, reason: 'Moved', headers: { Contact: '<sip:x@y>' } },
      { action: 'forward', targets: [{ uri: 'sip:a@b' }] },
      { action: 'forward', targets: [{ uri: 'sip:a@b' }, { uri: 'sip:c@d' }], recordRoute: false, headers: { set: { 'X-A': '1' } } },
      { action: 'forward' },
    ]);
    const once = res();
    once.send(200);
    assert.throws(() => once.send(486), /already been answered/);
  });

  test('apps sdk - the methods an app announces follow its handlers', () => {
    const bus = {} as never;
    const noop = () => undefined;
    assert.equal(new App({ name: 'a', bus, autoConnect: false }).use(noop).methods, null);
    assert.equal(new App({ name: 'a', bus, autoConnect: false }).use(noop).invite(noop).methods, null, 'a use handler may answer any method');
    assert.deepEqual(new App({ name: 'a', bus, autoConnect: false }).invite(noop).bye(noop).use('invite', noop).methods, ['INVITE', 'BYE']);
    assert.deepEqual(new App({ name: 'a', bus, autoConnect: false, methods: ['message'] }).invite(noop).methods, ['MESSAGE']);
    assert.throws(() => new App({ name: 'Bad Name', bus, autoConnect: false }), /app name/);
    assert.throws(() => new App({ name: 'a', autoConnect: false }), /servers .* or bus/);
    assert.throws(() => new App({ name: 'a', bus, token: 'short', autoConnect: false }), /at least 16/);
  });
});
