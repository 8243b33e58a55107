/**
 * The layer order of .dependency-cruiser.cjs (README, "Architecture") holds on the real tree, and the rules
 * catch what they exist for: an upward import, a cycle, a sibling import and a Node built-in outside the runtime
 * seam, each planted in a scratch tree, so a rule that stopped matching fails here too. Node globals, which no
 * import shows, are checked by scanning core/ outside core/runtime (test/support/node-globals.ts).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import test from 'node:test';
import { cruise, type ICruiseOptions, type ICruiseResult, type IViolation } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';
import { packagePath } from '../../core/paths.js';
import { nodeGlobalsIn } from '../support/node-globals.js';
import { onlyOn } from '../helpers/runtime.js';

/** The rules read the sources, so one runtime suffices; dependency-cruiser's swc visitor fails to load under Bun. */
const cruiser = onlyOn(['node', 'deno'], "dependency-cruiser's swc visitor does not load under Bun");

const root = packagePath();

async function rules(): Promise<ICruiseOptions> {
  return (await extractDepcruiseOptions(join(root, '.dependency-cruiser.cjs'))) as ICruiseOptions;
}

function violationsOf(output: unknown): IViolation[] {
  return (output as ICruiseResult).summary.violations;
}

function describe(violations: IViolation[]): string {
  return violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`).join('\n');
}

test('layers - core and sandbox import only downwards, with no cycle and no Node built-in outside core/runtime', cruiser, async () => {
  const options = await rules();
  const previous = process.cwd();
  process.chdir(root);
  try {
    const result = await cruise(['core', 'sandbox'], { ...options, outputType: 'json' }, undefined, { tsConfig: extractTSConfig(join(root, 'tsconfig.json')) });
    const violations = violationsOf(JSON.parse(result.output as string)).filter((v) => v.rule.severity !== 'ignore');
    assert.equal(violations.length, 0, `layer rules broken:\n${describe(violations)}`);
  } finally {
    process.chdir(previous);
  }
});

test('layers - the rules fail on an upward import, a cycle, a sibling import and node:fs outside core/runtime', cruiser, async () => {
  const base = mkdtempSync(join(tmpdir(), 'routr-layers-'));
  const files: Record<string, string> = {
    'core/runtime/files.js': "import { readFileSync } from 'node:fs';\nexport const read = readFileSync;\n",
    'core/sip/codec.js': 'export const parse = 1;\n',
    'core/config/server.js': "import { parse } from '../sip/codec.js';\nimport { host } from '../host/host.js';\nexport const c = parse + host;\n",
    'core/host/host.js': "import { loader } from './loader.js';\nexport const host = loader;\n",
    'core/host/loader.js': "import { host } from './host.js';\nexport const loader = () => host;\n",
    'core/edge/edge.js': "import { host } from '../host/host.js';\nimport { readFileSync } from 'node:fs';\nimport { read } from '../runtime/files.js';\nexport const e = [host, readFileSync, read];\n",
  };
  try {
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(dirname(join(base, name)), { recursive: true });
      writeFileSync(join(base, name), text);
    }
    const { tsConfig: _ts, tsPreCompilationDeps: _pre, ...options } = await rules();
    const result = await cruise(['core'], { ...options, baseDir: base, outputType: 'json' });
    const found = violationsOf(JSON.parse(result.output as string)).map((v) => `${v.rule.name}: ${v.from} → ${v.to}`).sort();
    assert.deepEqual(found, [
      'layer-config-imports-upward: core/config/server.js → core/host/host.js',
      'no-circular: core/host/host.js → core/host/loader.js',
      'node-builtins-only-in-runtime: core/edge/edge.js → fs',
      'roles-siblings-edge: core/edge/edge.js → core/host/host.js',
    ]);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return path === 'core/runtime' ? [] : sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

test('layers - core uses no Node global (process, Buffer, NodeJS.*, setImmediate, require) outside core/runtime', () => {
  const uses = sources('core').flatMap((file) => nodeGlobalsIn(readFileSync(join(root, file), 'utf8')).map((use) => `${file}:${use.line} ${use.name}`));
  assert.deepEqual(uses, [], 'use core/runtime (process.ts, bytes.ts, ...) instead');
});

test('layers - the globals scan finds process, Buffer, NodeJS.*, setImmediate and require, not comments, strings or look-alikes', () => {
  const source = [
    "import { env } from '../runtime/process.js';",
    '// process.env in a comment, Buffer too',
    "const a = 'process.exit() in a string';",
    'const b = `${process.pid} and the process text`;',
    'let t: NodeJS.Timeout;',
    'const c = Buffer.from(a);',
    'setImmediate(() => {});',
    "const d = require('x');",
    'class P { async process(json: string) { return ipaddr.process(json) + PROCESS_SUBJECT; } }',
    'declare global { const routr: unknown }',
  ].join('\n');
  assert.deepEqual(nodeGlobalsIn(source).map((u) => `${u.line} ${u.name}`), ['4 process', '5 NodeJS.*', '6 Buffer', '7 setImmediate', '8 require']);
  assert.deepEqual(nodeGlobalsIn("import { Buffer } from '../runtime/bytes.js';\nconst c = Buffer.from('x');"), []);
});
