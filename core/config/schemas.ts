/**
 * The one ajv instance: JSON Schema 2020-12, `strict: true` (a schema mistake such as `properties` beside
 * `items` is an error, not a silently unchecked array), `allErrors: true` (report every problem at once).
 * Schemas are data in `config/schemas/`, each with a unique `$id`, compiled once on first use.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { packagePath } from '../paths.js';

let ajv: Ajv2020 | undefined;
const compiled = new Map<string, ValidateFunction>();

export function schemaAjv(): Ajv2020 {
  if (ajv) return ajv;
  ajv = new Ajv2020({ strict: true, allErrors: true, useDefaults: true, allowUnionTypes: false });
  const dir = packagePath('config', 'schemas');
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.schema.json')).sort()) {
    ajv.addSchema(JSON.parse(readFileSync(join(dir, file), 'utf8')) as object);
  }
  return ajv;
}

/** The validator for a schema by its file stem (`server` → config/schemas/server.schema.json). */
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
    const dir = packagePath('config', 'schemas');
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.schema.json'))) {
      const schema = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { $id: string };
      ids.set(file.replace(/\.schema\.json$/, ''), schema.$id);
    }
  }
  return ids;
}

/** One line per error: `<path>: <message>`, with the path as a JSON pointer into the document. */
export function describeErrors(errors: ErrorObject[] | null | undefined): string[] {
  // An `if` failing only says which `then` applied; the `then` errors below it say what is wrong.
  return (errors ?? []).filter((e) => e.keyword !== 'if').map((e) => {
    const path = e.instancePath || '/';
    if (e.keyword === 'additionalProperties') return `${path}: unknown property "${(e.params as { additionalProperty: string }).additionalProperty}"`;
    if (e.keyword === 'false schema') return `${path}: not allowed here`;
    if (e.keyword === 'enum') return `${path}: must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    return `${path}: ${e.message ?? e.keyword}`;
  });
}
