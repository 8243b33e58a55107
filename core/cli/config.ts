/**
 * `routr config convert <v1 config.yaml> -o <routr.yaml>`: Routr v1's general configuration written once and for
 * all as the `kind: Server` document routr runs, each mapped property reported, each refused one with the reason
 * (and nothing written). The output may carry keystore and Redis passwords, so it goes to a file (mode 0600).
 */
import { dump } from 'js-yaml';
import { dirname, existsSync, resolve, writeFile } from '../runtime/files.js';
import { parseArgs, writeStderr, writeStdout } from '../runtime/process.js';
import { checkServerDocument, readConfigDocument } from '../config/server.js';
import { convertV1Config, isV1Config } from '../config/v1.js';
import { UsageError } from './usage.js';

export async function runConfig(args: string[]): Promise<number> {
  const [verb, ...rest] = args;
  if (verb !== 'convert') throw new UsageError(verb ? `unknown config verb "${verb}"` : 'config needs a verb: convert');
  const { positionals, values } = parseArgs({ args: rest, allowPositionals: true, strict: true, options: { out: { type: 'string', short: 'o' }, force: { type: 'boolean' } } });
  if (positionals.length !== 1) throw new UsageError('config convert needs one Routr v1 config file');
  if (!values.out) throw new UsageError('config convert needs -o <file>: the output may carry passwords, so it goes to a file, never to the terminal');
  if (existsSync(values.out) && !values.force) throw new UsageError(`${values.out} exists: pass --force to overwrite it`);
  const file = positionals[0];
  const document = readConfigDocument(file);
  if (!isV1Config(document)) {
    writeStderr(`routr: ${file} is not a Routr v1 config (apiVersion v1beta1, kind Config or none)\n`);
    return 1;
  }
  const conversion = convertV1Config(document, { baseDir: dirname(resolve(file)) });
  for (const w of conversion.warnings) writeStderr(`warning: ${file} ${w.path}: ${w.message}\n`);
  const problems = conversion.problems.map((p) => `${p.path}: ${p.message}`);
  if (conversion.document) problems.push(...checkServerDocument(conversion.document).problems.map((p) => `(converted) ${p.path || '/'}: ${p.message}`));
  if (problems.length || !conversion.document) {
    for (const p of problems) writeStderr(`${file} ${p}\n`);
    writeStderr(`${problems.length} problem${problems.length === 1 ? '' : 's'}: nothing written\n`);
    return 1;
  }
  const header = `# Converted from Routr v1's ${file} by routr config convert (relative paths are read from the directory this file is in).\n`;
  await writeFile(values.out, header + dump(conversion.document, { lineWidth: -1 }), { mode: 0o600 });
  writeStdout(`wrote ${values.out}: kind Server from ${conversion.warnings.length} Routr v1 properties\n`);
  return 0;
}
