import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { linearRegExp } from '../../core/plugins/linear-regexp.js';

test('linear regexp - matches as RegExp.test does for RE2 syntax, and a catastrophic pattern stays linear', () => {
  const rx = linearRegExp('^(a+)+$', 'u');
  assert.equal(rx.test('aaa'), true);
  assert.equal(rx.test('aaa!'), false);
  const started = performance.now();
  assert.equal(rx.test(`${'a'.repeat(5000)}!`), false);
  assert.ok(performance.now() - started < 1000);
  assert.equal(linearRegExp('sip', 'u').test('a sip uri'), true, 'unanchored, as RegExp.test');
  assert.equal(linearRegExp('^SIP$', 'i').test('sip'), true);
  assert.equal(linearRegExp('^[^\\r\\n\\u0000]*$', 'u').test('ok'), true, 'ECMA \\u escapes');
  assert.equal(linearRegExp('^[^\\r\\n\\u0000]*$', 'u').test('no\u0000'), false);
  assert.equal(linearRegExp('^\\u{1F600}$', 'u').test('\u{1F600}'), true);
  assert.equal(linearRegExp('^\\\\u0041$', 'u').test('\\u0041'), true, 'an escaped backslash stays one');
  assert.throws(() => linearRegExp('^(a)\\1$'), /RE2 syntax/);
  assert.throws(() => linearRegExp('^(?=a)'), /RE2 syntax/);
});

test('linear regexp - ajv keeps every pattern of a schema apart', () => {
  const ajv = new Ajv2020({ strict: true, code: { regExp: linearRegExp } });
  const validate = ajv.compile({ type: 'object', properties: { a: { type: 'string', pattern: '^a+$' }, b: { type: 'string', pattern: '^b+$' } }, patternProperties: { '^x-': { type: 'number' } } });
  assert.equal(validate({ a: 'aa', b: 'bb' }), true);
  assert.equal(validate({ a: 'aa', b: 'aa' }), false);
  assert.equal(validate({ a: 'bb', b: 'bb' }), false);
  assert.equal(validate({ a: 'a', 'x-y': 'not a number' }), false);
});
