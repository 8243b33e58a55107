/**
 * `routr certs dev`: a self-signed pair that the TLS transport accepts, named for the hosts asked; refusals
 * without --force; a clear message when openssl is missing (the test itself needs openssl and fails with
 * routr's own message when it is absent: install it, as .ci/run does).
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadTlsMaterial } from '../../core/config/tls-files.js';
import { routrCli } from '../helpers/certs.js';

const dir = mkdtempSync(join(tmpdir(), 'routr-certs-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('cli - routr certs dev writes a certificate for the hosts asked and a key only its owner can read', () => {
  const out = join(dir, 'a');
  const r = routrCli(['certs', 'dev', '--out', out, '--host', '127.0.0.1', '--host', 'sip.test', '--days', '30']);
  assert.equal(r.status, 0, `routr certs dev failed: ${r.stderr}`);
  assert.match(r.stdout, /wrote .*cert\.pem and .*key\.pem \(self-signed, 30 days, for 127\.0\.0\.1, sip\.test\)/);
  const cert = new X509Certificate(readFileSync(join(out, 'cert.pem')));
  assert.equal(cert.subjectAltName, 'IP Address:127.0.0.1, DNS:sip.test');
  assert.match(cert.subject, /CN=sip\.test/);
  assert.ok(Date.parse(cert.validTo) - Date.now() < 31 * 86400_000);
  assert.equal(statSync(join(out, 'key.pem')).mode & 0o777, 0o600);
  const material = loadTlsMaterial({ cert: join(out, 'cert.pem'), key: join(out, 'key.pem') });
  assert.deepEqual(material.warnings, []);
});

test('cli - routr certs dev will not overwrite a pair without --force', () => {
  const out = join(dir, 'b');
  assert.equal(routrCli(['certs', 'dev', '--out', out]).status, 0);
  const before = readFileSync(join(out, 'cert.pem'), 'utf8');
  const refused = routrCli(['certs', 'dev', '--out', out]);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /already exists; pass --force to replace them/);
  assert.equal(routrCli(['certs', 'dev', '--out', out, '--force']).status, 0);
  assert.notEqual(readFileSync(join(out, 'cert.pem'), 'utf8'), before);
});

test('cli - without openssl, routr certs dev says what is missing and exits 1', () => {
  const r = routrCli(['certs', 'dev', '--out', join(dir, 'c')], { PATH: join(dir, 'empty-path') });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /openssl not found: `routr certs dev` runs openssl to make the certificate \(Node cannot\)\. Install it/);
});

test('cli - certs usage errors exit 2', () => {
  assert.equal(routrCli(['certs']).status, 2);
  assert.match(routrCli(['certs', 'prod']).stderr, /unknown certs command "prod"/);
  const bad = routrCli(['certs', 'dev', '--out', join(dir, 'd'), '--host', 'not a host']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--host "not a host" is neither an IP address nor a DNS name/);
});
