/**
 * Routr v1's general configuration (`config/config.yaml`, apiVersion v1beta1, `kind: Config` or no kind) turned
 * into the `kind: Server` document routr runs: `routr start --config` converts it on load, with one warning per
 * mapped property, and `routr config convert` writes the result once and for all. Every property of Routr v1's
 * reference is either mapped (the note says to what) or refused with the reason: a refusal that would change
 * what the server does in a way an operator must decide (an SCTP transport, a Java keystore, HTTPS without a
 * keystore) is a problem and nothing runs; one that changes nothing that matters (thread counts, TLS debug
 * output) is a warning. v1 ran its Connect-like routing for every request, so the result runs the Connect
 * processor as the fallback, with the v1 properties that shape it as its config.
 */
import { existsSync, readFileSync } from '../runtime/files.js';
import { isJavaKeystore, keytoolCommand } from './tls-files.js';

export const V1_CONFIG_API_VERSION = 'v1beta1';

export interface V1ConfigConversion {
  /** The kind: Server document (not yet validated); absent when there are problems. */
  document?: Record<string, unknown>;
  /** One per mapped or ignored property: `<v1 path>: <what it became>`. */
  warnings: Array<{ path: string; message: string }>;
  problems: Array<{ path: string; message: string }>;
}

/** Whether a parsed document is Routr v1's general configuration. */
export function isV1Config(document: unknown): document is Record<string, unknown> {
  if (document === null || typeof document !== 'object' || Array.isArray(document)) return false;
  const doc = document as Record<string, unknown>;
  return doc.apiVersion === V1_CONFIG_API_VERSION && (doc.kind === undefined || doc.kind === 'Config');
}

type Obj = Record<string, unknown>;

const isObj = (value: unknown): value is Obj => value !== null && typeof value === 'object' && !Array.isArray(value);

/** TLS protocol names of Java's (v1's client.protocols) that routr accepts. */
const MODERN_TLS = new Set(['TLSv1.2', 'TLSv1.3']);
const PROVIDERS = { files_data_provider: 'files', redis_data_provider: 'redis', restful_data_provider: 'restful' } as const;

/**
 * Convert. `baseDir` is the v1 config file's directory: keystore paths are checked there (a JKS is refused with the
 * keytool command that converts it) and written relative as they were.
 */
export function convertV1Config(v1: Obj, options: { baseDir?: string } = {}): V1ConfigConversion {
  const out: V1ConfigConversion = { warnings: [], problems: [] };
  const note = (path: string, message: string) => out.warnings.push({ path, message });
  const refuse = (path: string, message: string) => out.problems.push({ path, message });
  const metadata = isObj(v1.metadata) ? v1.metadata : {};
  const spec = isObj(v1.spec) ? v1.spec : {};
  const edge: Obj = {};
  const http: Obj = {};
  const logging: Obj = {};
  const connect: Obj = { algorithms: ['MD5', 'SHA-256'] };
  const registrar: Obj = {};
  // v1's default: files_data_provider on the config folder itself.
  let resources: Obj = { provider: 'files', path: '.' };

  for (const key of Object.keys(metadata)) {
    if (key === 'userAgent') {
      edge.userAgent = String(metadata.userAgent);
      note('/metadata/userAgent', 'spec.edge.userAgent: Server on routr\'s own responses, User-Agent on the requests it writes (CANCEL, ACK)');
    } else note(`/metadata/${key}`, 'ignored: not a Routr v1 property');
  }

  for (const [key, value] of Object.entries(spec)) {
    const path = `/spec/${key}`;
    switch (key) {
      case 'bindAddr':
        edge.bindAddr = String(value);
        note(path, 'spec.edge.bindAddr');
        break;
      case 'externAddr':
        edge.advertisedAddrs = [String(value)];
        note(path, 'spec.edge.advertisedAddrs: [externAddr] (Via and Record-Route towards peers outside localnets)');
        break;
      case 'localnets':
        edge.localnets = Array.isArray(value) ? value.map(String) : [String(value)];
        note(path, 'spec.edge.localnets');
        break;
      case 'recordRoute':
        edge.recordRoute = value === true ? 'always' : 'never';
        note(path, `spec.edge.recordRoute: ${edge.recordRoute as string}${value === true ? '' : ' (routr leaves the signalling path after the first request of a dialog)'}`);
        break;
      case 'useToAsAOR':
        connect.useToAsAOR = value === true;
        note(path, `Connect's useToAsAOR: ${String(value === true)} (callees looked up by ${value === true ? 'the To URI' : 'the Request-URI'})`);
        break;
      case 'registrarIntf': {
        const mode = String(value).toLowerCase() === 'internal' ? 'always' : String(value).toLowerCase() === 'external' ? 'never' : undefined;
        if (!mode) refuse(path, `must be Internal or External (got ${JSON.stringify(value)})`);
        else {
          registrar.nat = mode;
          note(path, `spec.host.registrar.nat: ${mode} (registered contacts reached at ${mode === 'always' ? "the REGISTER's source address and port (received/rport)" : 'the Contact as written'})`);
        }
        break;
      }
      case 'addressInfo':
        connect.didHeaders = (Array.isArray(value) ? value : [value]).map(String);
        note(path, "Connect's didHeaders: the dialled number is read from these headers on calls from Trunks, before the Request-URI");
        break;
      case 'accessControlList':
        edgeAcl(value, path, { edge, note, refuse });
        break;
      case 'transport':
        edge.transports = transports(value, spec, { path, note, refuse, baseDir: options.baseDir });
        break;
      case 'securityContext':
        // Read with the tls and wss transports above; its own keys are checked there.
        securityContextNotes(value, path, note, refuse);
        break;
      case 'restService':
        restService(value, path, { http, note, refuse, baseDir: options.baseDir });
        break;
      case 'dataSource':
        resources = dataSource(value, path, { note, refuse });
        break;
      case 'logging': {
        const level = isObj(value) ? Number(value.traceLevel ?? 0) : 0;
        if (isObj(value) && Object.keys(value).some((k) => k !== 'traceLevel')) note(path, `ignored: ${Object.keys(value).filter((k) => k !== 'traceLevel').join(', ')} (not Routr v1 properties)`);
        if (level > 0) {
          logging.level = 'trace';
          logging.sipTrace = true;
          note(`${path}/traceLevel`, `spec.logging.sipTrace: true with level trace (every SIP message in and out logged, Authorization redacted); v1's ${level} verbosity steps are one here`);
        } else note(`${path}/traceLevel`, 'spec.logging.sipTrace: false (traceLevel 0)');
        break;
      }
      case 'ex_rtpEngine':
        note(path, 'ignored: routr relays signalling only, never media (use rtpengine through a processor)');
        break;
      case 'ex_convertTelToE164':
        note(path, 'ignored: routr matches Numbers by digits (separators ignored) and does not rewrite them to E.164');
        break;
      case 'ex_uniqueGatewayPerHostPort':
        note(path, 'always on: routr refuses two Trunks with the same inbound host');
        break;
      default:
        note(path, 'ignored: not a Routr v1 property');
    }
  }
  if (!('transport' in spec)) edge.transports = [{ protocol: 'udp', port: 5060 }];
  if (!('dataSource' in spec)) note('/spec/dataSource', "absent: spec.resources is the files provider on this file's folder (v1's files_data_provider default)");
  if (!('restService' in spec)) note('/spec/restService', "absent: spec.http keeps routr's defaults (the ops server and management API on 8080, plain HTTP; v1's REST service on 4567 is not served)");
  if (out.problems.length) return out;
  const document: Obj = {
    apiVersion: 'v2beta1',
    kind: 'Server',
    ref: 'routr',
    metadata: { name: 'converted from Routr v1 (v1beta1)' },
    spec: {
      edge,
      host: { processors: [{ ref: 'connect', isFallback: true, config: connect }], ...(Object.keys(registrar).length ? { registrar } : {}) },
      ...(Object.keys(http).length ? { http } : {}),
      ...(Object.keys(logging).length ? { logging } : {}),
      resources,
    },
  };
  out.document = document;
  return out;
}

interface Context {
  note(path: string, message: string): void;
  refuse(path: string, message: string): void;
}

function edgeAcl(value: unknown, path: string, context: Context & { edge: Obj }): void {
  const acl = isObj(value) ? value : {};
  const list = (name: string) => (Array.isArray(acl[name]) ? (acl[name] as unknown[]).map(String) : []);
  context.edge.accessControlList = { allow: list('allow'), deny: list('deny') };
  context.note(path, 'spec.edge.accessControlList: checked on the socket source of every datagram and connection before parsing (allow wins over deny)');
}

function transports(value: unknown, spec: Obj, context: Context & { path: string; baseDir?: string }): Obj[] {
  const { path, note, refuse } = context;
  const list = Array.isArray(value) ? value : [];
  if (list.length === 0) refuse(path, 'at least one transport is needed');
  const out: Obj[] = [];
  list.forEach((entry, i) => {
    const at = `${path}/${i}`;
    if (!isObj(entry)) return refuse(at, 'must be {protocol, port, bindAddr?}');
    const protocol = String(entry.protocol ?? '').toLowerCase();
    if (protocol === 'sctp') return refuse(`${at}/protocol`, 'routr has no SCTP transport (Node.js has no SCTP sockets): use udp, tcp or tls');
    if (!['udp', 'tcp', 'tls', 'ws', 'wss'].includes(protocol)) return refuse(`${at}/protocol`, `must be one of tcp, udp, tls, ws, wss (got ${JSON.stringify(entry.protocol)})`);
    const transport: Obj = { protocol, port: entry.port };
    if (entry.bindAddr !== undefined) transport.bindAddr = String(entry.bindAddr);
    if (protocol === 'tls' || protocol === 'wss') {
      const tls = securityContextTls(spec.securityContext, '/spec/securityContext', { ...context, requiredFor: `${protocol} transport ${at}` });
      if (tls) transport.tls = tls;
    }
    out.push(transport);
  });
  note(path, `spec.edge.transports: ${out.map((t) => `${t.protocol as string}:${String(t.port)}`).join(', ')}`);
  return out;
}

/** The tls block a v1 securityContext describes for a tls/wss transport: its PKCS#12 keyStore and client auth. */
function securityContextTls(value: unknown, path: string, context: Context & { baseDir?: string; requiredFor: string }): Obj | undefined {
  if (!isObj(value) || value.keyStore === undefined) {
    context.refuse(path, `the ${context.requiredFor} needs spec.securityContext.keyStore (a PKCS#12 keystore)`);
    return undefined;
  }
  const tls = keystore(value.keyStore, value.keyStorePassword, value.keyStoreType, `${path}/keyStore`, context);
  if (!tls) return undefined;
  const client = isObj(value.client) ? value.client : {};
  const authType = String(client.authType ?? 'DisabledAll');
  // Java's SSL client auth modes (jain-sip's gov.nist.javax.sip.TLS_CLIENT_AUTH_TYPE).
  if (/^(Enabled|Need)$/i.test(authType)) Object.assign(tls, { requestClientCert: true, rejectUnauthorized: true });
  else if (/^Want$/i.test(authType)) Object.assign(tls, { requestClientCert: true, rejectUnauthorized: false });
  else if (!/^(Disabled|DisabledAll)$/i.test(authType)) context.refuse(`${path}/client/authType`, `must be Enabled, Want, Disabled or DisabledAll (got ${JSON.stringify(authType)})`);
  const protocols = Array.isArray(client.protocols) ? client.protocols.map(String) : undefined;
  if (protocols) {
    const modern = protocols.filter((p) => MODERN_TLS.has(p));
    if (modern.length === 0) context.refuse(`${path}/client/protocols`, `routr accepts TLS 1.2 and 1.3 only (Node refuses older ones as insecure); got ${protocols.join(', ')}`);
    else if (!modern.includes('TLSv1.2')) tls.minVersion = 'TLSv1.3';
  }
  return tls;
}

function securityContextNotes(value: unknown, path: string, note: Context['note'], refuse: Context['refuse']): void {
  if (!isObj(value)) return;
  for (const key of Object.keys(value)) {
    const at = `${path}/${key}`;
    switch (key) {
      case 'keyStore':
      case 'keyStorePassword':
      case 'keyStoreType':
        note(at, `tls.${key === 'keyStore' ? 'pfx' : key === 'keyStorePassword' ? 'passphrase' : 'pfx (PKCS12 only)'} of the tls and wss transports`);
        break;
      case 'client': {
        const client = isObj(value.client) ? value.client : {};
        if ('authType' in client) note(`${at}/authType`, 'tls.requestClientCert / rejectUnauthorized of the tls and wss transports (Enabled/Need: required, Want: asked, Disabled/DisabledAll: not asked)');
        if ('protocols' in client) note(`${at}/protocols`, 'tls.minVersion (TLS 1.2 or newer only: TLSv1 and TLSv1.1 are dropped)');
        break;
      }
      case 'trustStore':
      case 'trustStorePassword':
        note(at, 'ignored: a Java truststore cannot be read; give the CA certificates as PEM in tls.ca (openssl pkcs12 -in <truststore.p12> -nokeys -out ca.pem)');
        break;
      case 'debugging':
        note(at, 'ignored: there is no TLS debug output; logging.level debug shows handshake failures');
        break;
      default:
        refuse(at, 'not a Routr v1 securityContext property');
    }
  }
}

/** `tls: {pfx, passphrase}` for a PKCS#12 keystore; a JKS (by type, extension or content) is refused with keytool's command. */
function keystore(file: unknown, password: unknown, type: unknown, path: string, context: Context & { baseDir?: string }): Obj | undefined {
  const name = String(file);
  const full = context.baseDir && !name.startsWith('/') ? `${context.baseDir}/${name}` : name;
  const declaredJks = typeof type === 'string' && /^(jks|jceks)$/i.test(type);
  const looksJks = /\.(jks|keystore)$/i.test(name) || (existsSync(full) && isJavaKeystore(readFileSync(full).subarray(0, 4)));
  if (declaredJks || looksJks) {
    context.refuse(path, `${name} is a Java keystore (JKS), which Node cannot read: convert it with \`${keytoolCommand(name)}\`, then set keyStore to the .p12 file and keyStoreType to PKCS12`);
    return undefined;
  }
  if (type !== undefined && !/^(pkcs12|p12|pfx)$/i.test(String(type))) {
    context.refuse(path.replace(/keyStore$/, 'keyStoreType'), `must be PKCS12 (or JKS, to be converted); got ${JSON.stringify(type)}`);
    return undefined;
  }
  return { pfx: name, ...(password !== undefined ? { passphrase: String(password) } : {}) };
}

function restService(value: unknown, path: string, context: Context & { http: Obj; baseDir?: string }): void {
  const { http, note, refuse } = context;
  if (!isObj(value)) return;
  http.port = 4567;
  for (const [key, v] of Object.entries(value)) {
    const at = `${path}/${key}`;
    switch (key) {
      case 'bindAddr':
        http.bindAddr = String(v);
        note(at, 'spec.http.bindAddr (the ops server: health, metrics and routr\'s management API; v1\'s REST paths are not served)');
        break;
      case 'port':
        http.port = v;
        note(at, 'spec.http.port');
        break;
      case 'unsecured':
      case 'keyStore':
      case 'keyStorePassword':
        break; // below
      case 'trueStore':
      case 'trueStorePassword':
      case 'trustStore':
      case 'trustStorePassword':
        note(at, 'ignored: routr\'s API authenticates with a bearer token (spec.http.apiToken), not client certificates');
        break;
      case 'minThreads':
      case 'maxThreads':
        note(at, 'ignored: Node serves HTTP on its event loop; there is no thread pool to size');
        break;
      case 'timeOutMillis':
        note(at, 'ignored: routr\'s API has no per-request timeout setting (its requests are answered from memory)');
        break;
      default:
        refuse(at, 'not a Routr v1 restService property');
    }
  }
  if (!('port' in value)) note(`${path}/port`, 'spec.http.port: 4567 (v1\'s default)');
  if (value.unsecured === true) {
    note(`${path}/unsecured`, 'spec.http without tls (plain HTTP)');
    return;
  }
  if (value.keyStore === undefined) {
    refuse(`${path}/keyStore`, 'HTTPS (unsecured is false) needs keyStore, a PKCS#12 keystore; or set unsecured: true');
    return;
  }
  const tls = keystore(value.keyStore, value.keyStorePassword, undefined, `${path}/keyStore`, context);
  if (tls) {
    http.tls = tls;
    note(`${path}/keyStore`, 'spec.http.tls.pfx and passphrase: the ops server serves HTTPS');
  }
}

function dataSource(value: unknown, path: string, context: Context): Obj {
  const { note, refuse } = context;
  const source = isObj(value) ? value : {};
  const provider = String(source.provider ?? 'files_data_provider');
  const mapped = PROVIDERS[provider as keyof typeof PROVIDERS];
  if (!mapped) {
    refuse(`${path}/provider`, `must be files_data_provider, redis_data_provider or restful_data_provider (got ${JSON.stringify(provider)})`);
    return {};
  }
  const parameters = parseParameters(source.parameters);
  note(`${path}/provider`, `spec.resources.provider: ${mapped}`);
  switch (mapped) {
    case 'files':
      note(`${path}/parameters`, `spec.resources.path: ${String(parameters.path ?? '.')} (relative to this file; the v1 default is the config folder itself)`);
      return { provider: 'files', path: String(parameters.path ?? '.') };
    case 'redis': {
      const redis: Obj = {};
      if (parameters.host !== undefined) redis.host = String(parameters.host);
      if (parameters.port !== undefined) redis.port = Number(parameters.port);
      if (parameters.secret !== undefined) redis.secret = String(parameters.secret);
      note(`${path}/parameters`, `spec.resources.redis: ${redis.host ?? 'localhost'}:${String(redis.port ?? 6379)}${redis.secret ? ' with its secret' : ''}; keys routr:resources:<Kind>:<ref> (v1's Redis layout is not read: convert its resources with routr resources convert and apply them)`);
      return { provider: 'redis', redis };
    }
    case 'restful': {
      if (parameters.baseUrl === undefined) {
        refuse(`${path}/parameters/baseUrl`, 'the restful provider needs baseUrl');
        return {};
      }
      note(`${path}/parameters`, 'spec.resources.restful: baseUrl, username and secret (polled every 10 s)');
      return { provider: 'restful', restful: { baseUrl: String(parameters.baseUrl), ...(parameters.username !== undefined ? { username: String(parameters.username) } : {}), ...(parameters.secret !== undefined ? { secret: String(parameters.secret) } : {}) } };
    }
  }
}

/** v1 took parameters as a map or as a string `host=localhost,port=6379`. */
function parseParameters(value: unknown): Obj {
  if (isObj(value)) return value;
  if (typeof value !== 'string') return {};
  return Object.fromEntries(
    value
      .split(',')
      .map((pair) => pair.split('='))
      .filter((pair) => pair.length === 2)
      .map(([k, v]) => [k.trim(), v.trim()]),
  );
}
