/**
 * A self-signed certificate for tests of the TLS and WSS transports, made once per test process by the real
 * `routr certs dev` command (so every TLS test also checks that it works). openssl must be installed; when it
 * is not, this throws routr's own message saying so, and the test fails rather than skips.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliCommand } from './runtime.js';

export interface DevCertificate {
  certPath: string;
  keyPath: string;
  cert: Buffer;
  key: Buffer;
}

let made: DevCertificate | undefined;

export function routrCli(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const [command, argv] = cliCommand(args, { nodeFlags: [] });
  return spawnSync(command, argv, { encoding: 'utf8', timeout: 20000, env });
}

/** cert.pem and key.pem for 127.0.0.1 and localhost, removed when the process exits. */
export function devCertificate(): DevCertificate {
  if (made) return made;
  const dir = mkdtempSync(join(tmpdir(), 'routr-certs-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const result = routrCli(['certs', 'dev', '--out', dir, '--host', '127.0.0.1', '--host', 'localhost']);
  if (result.status !== 0) throw new Error(`routr certs dev failed (exit ${result.status}): ${result.stderr}${result.error?.message ?? ''}`);
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  made = { certPath, keyPath, cert: readFileSync(certPath), key: readFileSync(keyPath) };
  return made;
}
