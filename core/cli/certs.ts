/**
 * `routr certs dev [--out <dir>] [--host <name>...]`: a self-signed certificate and key for trying the TLS and
 * WSS transports locally. Node can make keys but not X.509 certificates, so this runs `openssl req -x509`
 * (OpenSSL 1.1.1 or newer, for -addext); without openssl on the PATH it says so and exits 1. The certificate
 * names every --host (default: localhost, 127.0.0.1, ::1) in subjectAltName, which is what TLS clients check.
 * Not for production: a self-signed certificate is trusted by nobody who was not told to trust it.
 */
import { spawnSync, parseArgs, env, writeStderr, writeStdout } from '../runtime/process.js';
import { chmodSync, existsSync, mkdirSync, join, resolve, errorCode } from '../runtime/files.js';
import { isIP } from '../runtime/net.js';
import { UsageError } from './usage.js';

const DEFAULT_HOSTS = ['localhost', '127.0.0.1', '::1'];

export async function runCerts(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'dev') throw new UsageError(sub ? `unknown certs command "${sub}" (try: routr certs dev)` : 'certs needs a command: routr certs dev');
  const { values } = parseArgs({
    args: rest,
    options: {
      out: { type: 'string', short: 'o', default: 'certs' },
      host: { type: 'string', multiple: true },
      days: { type: 'string', default: '365' },
      force: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const hosts = values.host?.length ? values.host : DEFAULT_HOSTS;
  const days = Number(values.days);
  if (!Number.isInteger(days) || days < 1) throw new UsageError(`--days must be a positive whole number (got "${values.days}")`);
  for (const host of hosts) {
    if (!isIP(host) && !/^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(host)) {
      throw new UsageError(`--host "${host}" is neither an IP address nor a DNS name`);
    }
  }
  const dir = resolve(values.out ?? 'certs');
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  if (!values.force && (existsSync(cert) || existsSync(key))) {
    writeStderr(`routr: ${cert} or ${key} already exists; pass --force to replace them\n`);
    return 1;
  }
  mkdirSync(dir, { recursive: true });
  const san = hosts.map((h) => (isIP(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
  const subject = `/CN=${hosts.find((h) => !isIP(h)) ?? hosts[0]}/O=routr development`;
  const result = spawnSync(
    env('ROUTR_OPENSSL') ?? 'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-sha256', '-days', String(days),
      '-keyout', key, '-out', cert, '-subj', subject, '-addext', `subjectAltName=${san}`,
      '-addext', 'keyUsage=critical,digitalSignature,keyCertSign', '-addext', 'extendedKeyUsage=serverAuth,clientAuth'],
    { encoding: 'utf8' },
  );
  if (result.error) {
    const missing = errorCode(result.error) === 'ENOENT';
    writeStderr(
      missing
        ? 'routr: openssl not found: `routr certs dev` runs openssl to make the certificate (Node cannot). Install it (apt-get install openssl, brew install openssl) or set ROUTR_OPENSSL to its path.\n'
        : `routr: cannot run openssl: ${result.error.message}\n`,
    );
    return 1;
  }
  if (result.status !== 0) {
    writeStderr(`routr: openssl failed (exit ${result.status}); OpenSSL 1.1.1 or newer is needed:\n${result.stderr}`);
    return 1;
  }
  chmodSync(key, 0o600);
  writeStdout(
    [
      `wrote ${cert} and ${key} (self-signed, ${days} days, for ${hosts.join(', ')}); for local use only.`,
      'Use them in spec.edge.transports, e.g.:',
      `  - { protocol: tls, port: 5061, tls: { cert: ${cert}, key: ${key} } }`,
      `  - { protocol: wss, port: 5063, tls: { cert: ${cert}, key: ${key} } }`,
      `Clients must trust ${cert} (it is its own CA).`,
      '',
    ].join('\n'),
  );
  return 0;
}
