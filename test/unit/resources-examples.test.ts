/**
 * The example resources are the specification by example: `config/examples/valid` must load as one set (the
 * Connect processor's tests and the quick start use it), and every file in `config/examples/invalid` — one
 * mistake each, its expected message(s) in `# expect:` lines — must be refused with exactly those problems,
 * located in that file, when added to the valid set.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, test } from 'node:test';
import { packagePath } from '../../core/paths.js';
import { formatProblem, KINDS, readResourcePath, ResourceSet, validateDocuments } from '../../core/resources/index.js';

const validDir = packagePath('config', 'examples', 'valid');
const invalidDir = packagePath('config', 'examples', 'invalid');

async function load(...paths: string[]) {
  const reads = await Promise.all(paths.map((p) => readResourcePath(p)));
  const checked = validateDocuments(
    reads.flatMap((r) => r.documents),
    { servers: 'validate' },
  );
  return { ...checked, problems: [...reads.flatMap((r) => r.problems), ...checked.problems] };
}

describe('resources - examples', () => {
  test('resources - the valid examples load as one set holding every kind', async () => {
    const loaded = await load(validDir);
    assert.deepEqual(loaded.problems.map(formatProblem), []);
    const set = new ResourceSet(loaded.entries);
    for (const kind of KINDS) assert.ok(set.list(kind).length > 0, `no valid ${kind} example`);
  });

  test('resources - the default server config validates as a Server document', async () => {
    const loaded = await load(packagePath('config', 'routr.yaml'));
    assert.deepEqual(loaded.problems.map(formatProblem), []);
    assert.equal(loaded.servers, 1);
  });

  test('resources - every kind has at least one invalid example', () => {
    const texts = readdirSync(invalidDir).map((f) => readFileSync(join(invalidDir, f), 'utf8'));
    for (const kind of [...KINDS, 'Server']) {
      assert.ok(texts.some((t) => new RegExp(`^# expect: ${kind} `, 'm').test(t)), `no invalid example for ${kind}`);
    }
  });

  for (const file of readdirSync(invalidDir).sort()) {
    test(`resources - invalid example ${file} is refused with its expected message`, async () => {
      const path = join(invalidDir, file);
      const expected = [...readFileSync(path, 'utf8').matchAll(/^# expect: (.+)$/gm)].map((m) => m[1]);
      assert.ok(expected.length > 0, `${file} has no "# expect:" line`);
      const loaded = await load(validDir, path);
      const got = loaded.problems.map(formatProblem);
      for (const want of expected) assert.ok(got.some((line) => line.includes(want)), `expected "${want}" among:\n${got.join('\n')}`);
      assert.equal(got.length, expected.length, `one problem per expect line, got:\n${got.join('\n')}`);
      for (const p of loaded.problems) {
        assert.equal(p.file, path, `problem outside ${file}: ${formatProblem(p)}`);
        assert.ok(p.line && p.line > 1, `no line (past the expect comment) in: ${formatProblem(p)}`);
      }
    });
  }

  test('resources - the v1beta1 examples load by conversion, with a warning per converted document', async () => {
    const loaded = await load(packagePath('config', 'examples', 'v1'));
    assert.deepEqual(loaded.problems.map(formatProblem), []);
    const set = new ResourceSet(loaded.entries);
    assert.equal(set.get('Trunk', 'GW0001')?.spec.outbound?.uris[0].uri.host, 'sip.provider.com');
    assert.equal(set.get('Number', 'DID0001')?.spec.trunkRef, 'GW0001');
    assert.equal(set.agentByUsername('john', 'sip.local')?.ref, 'agent-john');
    const v1Documents = 7; // users(1) agents(2) domains(1) gateways(1) dids(1) peers(1)
    assert.equal(loaded.warnings.length, v1Documents);
    assert.ok(loaded.warnings.every((w) => w.file && w.line && /^v1beta1 \w+ ".+" (converted to v2beta1|dropped)/.test(w.message)), loaded.warnings.map(formatProblem).join('\n'));
    assert.ok(loaded.warnings.some((w) => basename(w.file!) === 'users.yaml' && /dropped; v2 has no User kind/.test(w.message)));
  });
});
