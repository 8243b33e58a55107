/**
 * The one ajv instance: JSON Schema 2020-12, `strict: true` (a schema mistake such as `properties` beside
 * `items` is an error, not a silently unchecked array), `allErrors: true` (report every problem at once).
 * Schemas are data in `config/schemas/`, each with a unique `$id`, compiled once on first use.
 */
import { readFileSync, readdirSync, join } from '../runtime/files.js';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { packagePath } from '../paths.js';

let ajv: Ajv2020 | undefined;
const compiled = new Map<string, ValidateFunction>();

export function schemaAjv(): Ajv2020 {
  if (ajv) return ajv;
  ajv = new Ajv2020({ strict: true, allErrors: true, useDefaults: true, allowUnionTypes: false });
  for (const [, file] of schemaFiles()) ajv.addSchema(JSON.parse(readFileSync(file, 'utf8')) as object);
  return ajv;
}

/** Every schema file by name: `server` for server.schema.json, `events/call.started` in a subdirectory. */
function schemaFiles(): Array<[name: string, file: string]> {
  const root = packagePath('config', 'schemas');
  const found: Array<[string, string]> = [];
  for (const sub of ['', ...readdirSync(root, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort()]) {
    const dir = join(root, sub);
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.schema.json')).sort()) {
      found.push([(sub ? `${sub}/` : '') + file.replace(/\.schema\.json$/, ''), join(dir, file)]);
    }
  }
  return found;
}

/** The validator for a schema by its file stem (`server` → config/schemas/server.schema.json, `events/call.ended`). */
export function validator(name: string): ValidateFunction {
  let fn = compiled.get(name);
  if (!fn) {
    const id = schemaIds().get(name);
    if (!id) throw new Error(`no schema named ${name} in config/schemas`);
    fn = schemaAjv().getSchema(id);
    if (!fn) throw new Error(`schema ${id} did not compile`);
    compiled.set(name, fn);
  }
  return fn;
}

let ids: Map<string, string> | undefined;

function schemaIds(): Map<string, string> {
  if (!ids) {
    ids = new Map();
    for (const [name, file] of schemaFiles()) ids.set(name, (JSON.parse(readFileSync(file, 'utf8')) as { $id: string }).$id);
  }
  return ids;
}

/** One schema error, located: `path` is a JSON pointer into the document ('' for the document itself). */
export interface SchemaProblem {
  path: string;
  message: string;
}

/**
 * Friendlier words for the patterns people trip over, keyed by the end of the failing keyword's schema path;
 * anything else keeps ajv's message.
 */
const PATTERN_MESSAGES: Array<[suffix: string, message: string]> = [
  ['/$defs/ref/pattern', "must be a ref: letters, digits, '.', '_' or '-', starting with a letter or digit, at most 128 characters"],
  ['/telUrl/pattern', 'must be a tel: URL such as tel:+19103434434'],
  ['/$defs/host/pattern', 'must be a host name, an IPv4 address or a bracketed IPv6 address'],
  ['/$defs/hostPort/pattern', 'must be host or host:port'],
  ['/$defs/uri/pattern', 'must be an absolute URI such as sip:1001@sip.local'],
  ['/$defs/headerName/pattern', 'must be a header name (letters, digits and !%*_+`\'~.-)'],
  ['/$defs/headerValue/pattern', 'must not contain line breaks'],
  ['/inbound/properties/uri/pattern', 'must be a host, host:port or sip:host URI'],
  ['/$defs/sipUser/pattern', "must be a SIP user part: 1 to 128 letters, digits or -_.!~*'()&=+$,;?/%"],
  ['/properties/spec/properties/username/pattern', 'must not contain whitespace or double quotes'],
  ['/properties/credentials/properties/username/pattern', 'must not contain whitespace or double quotes'],
];

/** The errors of one validation, each with its JSON pointer and a message for people. */
export function schemaProblems(errors: ErrorObject[] | null | undefined): SchemaProblem[] {
  // An `if` failing only says which `then` applied; the `then` errors below it say what is wrong.
  return (errors ?? []).filter((e) => e.keyword !== 'if').map((e) => {
    const path = e.instancePath;
    switch (e.keyword) {
      case 'false schema':
        return { path, message: 'not allowed here' };
      case 'additionalProperties':
        return { path, message: `unknown property "${(e.params as { additionalProperty: string }).additionalProperty}"` };
      case 'enum':
        return { path, message: `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}` };
      case 'const':
        return { path, message: `must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}` };
      case 'required':
        return { path, message: `missing required property "${(e.params as { missingProperty: string }).missingProperty}"` };
      case 'pattern': {
        const known = PATTERN_MESSAGES.find(([suffix]) => e.schemaPath.endsWith(suffix));
        return { path, message: known ? known[1] : (e.message ?? 'does not match its pattern') };
      }
      default:
        return { path, message: e.message ?? e.keyword };
    }
  });
}

/** One line per error: `<path>: <message>`, with the path as a JSON pointer into the document. */
export function describeErrors(errors: ErrorObject[] | null | undefined): string[] {
  return schemaProblems(errors).map((p) => `${p.path || '/'}: ${p.message}`);
}
