/**
 * Certificates and keys for the TLS and WSS transports and the HTTPS ops server: read the PEM files (or the
 * PKCS#12 keystore: `pfx` + `passphrase`, what Routr v1's keyStore settings name) a `tls` block names, check
 * them before any socket is bound, and turn them into Node TLS options for the server side and for outbound
 * connections. A Java keystore (JKS) cannot be read by Node: it is refused with the keytool command that
 * converts it. Every problem is a `TlsSetupError` that names the file and the reason, because
 * "error:0480006C:PEM routines::no start line" tells an operator nothing about which of three files is wrong.
 * Problems that do not stop a transport (an expired certificate: some peers do not check) are warnings.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from '../runtime/crypto.js';
import { readFileSync, errorCode } from '../runtime/files.js';
import { tls } from '../runtime/net.js';
import type { TlsSettings } from './server.js';
import type { Buffer } from '../runtime/bytes.js';

export type { TlsSettings };

/** A transport's certificate and key (PEM, or one PKCS#12 keystore) and CA, read and checked. */
export interface TlsMaterial {
  settings: TlsSettings;
  cert?: Buffer;
  key?: Buffer;
  pfx?: Buffer;
  passphrase?: string;
  ca?: Buffer;
  warnings: string[];
}

/** The command that turns a Java keystore into the PKCS#12 one Node reads (keytool asks for the passwords). */
export function keytoolCommand(jks: string): string {
  const p12 = /\.(jks|keystore)$/i.test(jks) ? jks.replace(/\.(jks|keystore)$/i, '.p12') : `${jks}.p12`;
  return `keytool -importkeystore -srckeystore ${jks} -srcstoretype JKS -destkeystore ${p12} -deststoretype pkcs12`;
}

/** Whether a file is a Java keystore (JKS magic 0xFEEDFEED, or JCEKS 0xCECECECE). */
export function isJavaKeystore(data: Uint8Array): boolean {
  const magic = ((data[0] << 24) | (data[1] << 16) | (data[2] << 8) | data[3]) >>> 0;
  return data.length >= 4 && (magic === 0xfeedfeed || magic === 0xcececece);
}

export class TlsSetupError extends Error {
  override name = 'TlsSetupError';
}

/** Read and check the files; throws TlsSetupError naming the file and the reason. */
export function loadTlsMaterial(settings: TlsSettings): TlsMaterial {
  if (settings.pfx !== undefined) return loadKeystore(settings);
  if (settings.cert === undefined || settings.key === undefined) throw new TlsSetupError('tls needs cert and key (PEM files) or pfx (a PKCS#12 keystore)');
  const warnings: string[] = [];
  const cert = readPem(settings.cert, 'certificate');
  const key = readPem(settings.key, 'private key');
  const ca = settings.ca ? readPem(settings.ca, 'CA') : undefined;
  const x509 = parseCertificate(cert, settings.cert, 'certificate');
  const privateKey = parseKey(key, settings.key);
  if (!x509.checkPrivateKey(privateKey)) {
    throw new TlsSetupError(`private key file ${settings.key} does not match certificate file ${settings.cert}`);
  }
  const now = Date.now();
  if (Date.parse(x509.validTo) < now) warnings.push(`certificate file ${settings.cert} expired on ${x509.validTo}`);
  if (Date.parse(x509.validFrom) > now) warnings.push(`certificate file ${settings.cert} is not valid before ${x509.validFrom}`);
  if (ca) parseCertificate(ca, settings.ca as string, 'CA');
  const material: TlsMaterial = { settings, cert, key, ca, warnings };
  try {
    // Last line of defence: anything OpenSSL still refuses (an unsupported key type, say).
    tls.createSecureContext({ cert, key, ca, minVersion: 'TLSv1.2' });
  } catch (err) {
    throw new TlsSetupError(`certificate file ${settings.cert} with key file ${settings.key}: ${opensslReason(err)}`, { cause: err });
  }
  return material;
}

/** A PKCS#12 keystore (`pfx` + `passphrase`): read, refused with the keytool command when it is a JKS. */
function loadKeystore(settings: TlsSettings): TlsMaterial {
  const path = settings.pfx as string;
  let pfx: Buffer;
  try {
    pfx = readFileSync(path);
  } catch (err) {
    const code = errorCode(err);
    throw new TlsSetupError(`cannot read keystore file ${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message}`, { cause: err });
  }
  if (isJavaKeystore(pfx)) throw new TlsSetupError(`keystore file ${path} is a Java keystore (JKS), which Node cannot read: convert it with \`${keytoolCommand(path)}\` and name the .p12 file`);
  const ca = settings.ca ? readPem(settings.ca, 'CA') : undefined;
  if (ca) parseCertificate(ca, settings.ca as string, 'CA');
  try {
    tls.createSecureContext({ pfx, passphrase: settings.passphrase, ca, minVersion: 'TLSv1.2' });
  } catch (err) {
    const reason = opensslReason(err);
    const hint = /mac verify|bad decrypt|wrong password|invalid password/i.test(reason) ? ' (wrong passphrase?)' : /not enough data|asn1|header too long|wrong tag/i.test(reason) ? ' (not a PKCS#12 keystore?)' : '';
    throw new TlsSetupError(`keystore file ${path}: ${reason}${hint}`, { cause: err });
  }
  return { settings, pfx, passphrase: settings.passphrase, ca, warnings: [] };
}

/** Options for a TLS server (the TLS transport, and the HTTPS server under WSS). TLS 1.2 or newer only. */
export function serverTlsOptions(material: TlsMaterial): tls.TlsOptions {
  const { settings } = material;
  return {
    ...keyMaterial(material),
    ca: material.ca,
    minVersion: settings.minVersion ?? 'TLSv1.2',
    requestCert: settings.requestClientCert ?? false,
    rejectUnauthorized: (settings.requestClientCert ?? false) && (settings.rejectUnauthorized ?? true),
    // A client that opens a connection and never finishes the handshake must not hold it for the default 120 s.
    handshakeTimeout: 10_000,
  };
}

/**
 * Options for an outbound TLS connection: our certificate (for peers that want one), the system roots plus
 * the configured CA, SNI when the destination was a host name, verification on unless switched off.
 */
export function clientTlsOptions(material: TlsMaterial, target: { host: string; port: number; serverName?: string }): tls.ConnectionOptions {
  const { settings } = material;
  const options: tls.ConnectionOptions = {
    host: target.host,
    port: target.port,
    ...keyMaterial(material),
    minVersion: settings.minVersion ?? 'TLSv1.2',
    rejectUnauthorized: settings.rejectUnauthorized ?? true,
  };
  if (material.ca) options.ca = [...tls.rootCertificates, material.ca.toString('utf8')];
  if (target.serverName) {
    // SNI carries names only (RFC 6066 3); the certificate is then checked against the name, not the address.
    options.servername = target.serverName;
  }
  return options;
}

function keyMaterial(material: TlsMaterial): { cert?: Buffer; key?: Buffer; pfx?: Buffer; passphrase?: string } {
  return material.pfx ? { pfx: material.pfx, passphrase: material.passphrase } : { cert: material.cert, key: material.key };
}

function readPem(path: string, what: string): Buffer {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (err) {
    const code = errorCode(err);
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (err as Error).message;
    throw new TlsSetupError(`cannot read ${what} file ${path}: ${reason}`, { cause: err });
  }
  if (!data.includes('-----BEGIN ')) throw new TlsSetupError(`${what} file ${path} is not PEM (no -----BEGIN line)`);
  return data;
}

function parseCertificate(pem: Buffer, path: string, what: string): X509Certificate {
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new TlsSetupError(`${what} file ${path} holds no certificate (no -----BEGIN CERTIFICATE----- block)`);
  }
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new TlsSetupError(`${what} file ${path} holds a certificate that cannot be read: ${opensslReason(err)}`, { cause: err });
  }
}

function parseKey(pem: Buffer, path: string): KeyObject {
  if (pem.includes('ENCRYPTED')) throw new TlsSetupError(`private key file ${path} is encrypted; routr needs an unencrypted key`);
  try {
    return createPrivateKey(pem);
  } catch (err) {
    throw new TlsSetupError(`private key file ${path} holds no usable private key: ${opensslReason(err)}`, { cause: err });
  }
}

/** OpenSSL's reason without its error-code prefix: "error:0480006C:PEM routines::no start line" → "no start line". */
function opensslReason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const match = /error:[0-9A-F]+:[^:]*:[^:]*:(.+)$/.exec(message);
  return match ? match[1]!.trim() : message;
}
