/**
 * The resource loader: multi-document and list documents, the line of every JSON pointer (what lets errors say
 * file:line for the very field), syntax errors with line and column, and safe loading.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseYaml } from '../../core/resources/index.js';

test('resources yaml - multi-document files and list documents both give one document per resource, with lines', () => {
  const text = ['# header', 'kind: A', 'ref: a', '---', '- kind: B', '  ref: b', '- kind: C', '  ref: c', '---', '', '...'].join('\n');
  const parsed = parseYaml(text, { file: 'f.yaml' });
  assert.deepEqual(parsed.problems, []);
  assert.deepEqual(
    parsed.documents.map((d) => [(d.value as { ref: string }).ref, d.source.line]),
    [
      ['a', 2],
      ['b', 5],
      ['c', 7],
    ],
  );
});

test('resources yaml - every JSON pointer knows its line, including inside lists and flow collections', () => {
  const text = ['apiVersion: v2beta1', 'kind: Trunk', 'ref: t', 'spec:', '  outbound:', '    uris:', '      - uri: { host: a, port: 1 }', '      - uri:', '          host: b', "  'we/ird~key': 1"].join('\n');
  const [doc] = parseYaml(text, { file: 'f.yaml' }).documents;
  const lineOf = doc.source.lineOf!;
  assert.equal(lineOf(''), 1);
  assert.equal(lineOf('/spec'), 4);
  assert.equal(lineOf('/spec/outbound/uris'), 6);
  assert.equal(lineOf('/spec/outbound/uris/0/uri/port'), 7);
  assert.equal(lineOf('/spec/outbound/uris/1'), 8);
  assert.equal(lineOf('/spec/outbound/uris/1/uri/host'), 9);
  assert.equal(lineOf('/spec/we~1ird~0key'), 10);
  assert.equal(lineOf('/spec/absent'), undefined);
});

test('resources yaml - a syntax error is one problem with line and column, and no documents', () => {
  const parsed = parseYaml('a: 1\nb: [1, 2\n', { file: 'bad.yaml' });
  assert.equal(parsed.documents.length, 0);
  assert.equal(parsed.problems.length, 1);
  assert.equal(parsed.problems[0].file, 'bad.yaml');
  assert.ok(parsed.problems[0].line! >= 2 && parsed.problems[0].column! >= 1);
  assert.match(parsed.problems[0].message, /^YAML syntax error: /);
});

test('resources yaml - loading is safe: no code tags, duplicate keys refused, aliases capped', () => {
  assert.match(parseYaml('a: !!js/function "() => 1"\n', { file: 'f' }).problems[0].message, /unknown scalar tag/);
  assert.match(parseYaml('a: 1\na: 2\n', { file: 'f' }).problems[0].message, /duplicated mapping key/);
  const bomb = ['x: &x [1, 2]', ...Array.from({ length: 20 }, (_, i) => `y${i}: *x`)].join('\n');
  assert.equal(parseYaml(bomb, { file: 'f' }).problems.length, 1);
  const fine = ['x: &x [1, 2]', 'y: *x'].join('\n');
  assert.deepEqual(parseYaml(fine, { file: 'f' }).problems, []);
});

test('resources yaml - a document that is not a mapping is a problem at its line; empty documents are skipped', () => {
  const parsed = parseYaml('---\n---\njust text\n', { file: 'f' });
  assert.equal(parsed.documents.length, 0);
  assert.equal(parsed.problems.length, 1);
  assert.equal(parsed.problems[0].line, 3);
});
