import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ERROR_CODES, SipError, defaultReason, isErrorCode, toResponseSpec, type ErrorCode } from '../../core/errors.js';
import { packagePath } from '../../core/paths.js';

test('errors - the README table and the registry list the same codes, statuses and meanings', () => {
  const readme = readFileSync(packagePath('README.md'), 'utf8');
  const rows = [...readme.matchAll(/^\| `(ROUTR_[A-Z_]+)` \| (\d{3}) \| (.+) \|$/gm)].map(([, code, status, meaning]) => ({ code, status: Number(status), meaning }));
  const registry = Object.entries(ERROR_CODES).map(([code, spec]) => ({ code, status: spec.status, meaning: spec.description }));
  assert.deepEqual(rows, registry);
});

const cases: Array<[string, unknown, { status: number; code: ErrorCode; headers?: Record<string, string> }]> = [
  ['a SipError keeps its status and code', new SipError('ROUTR_NOT_FOUND'), { status: 404, code: 'ROUTR_NOT_FOUND' }],
  ['a SipError keeps its headers', new SipError('ROUTR_SERVICE_UNAVAILABLE', 'x', { headers: { 'Retry-After': '5' } }), { status: 503, code: 'ROUTR_SERVICE_UNAVAILABLE', headers: { 'Retry-After': '5' } }],
  ['a plain Error is a 500', new Error('bug'), { status: 500, code: 'ROUTR_INTERNAL' }],
  ['a thrown string is a 500', 'oops', { status: 500, code: 'ROUTR_INTERNAL' }],
  ['undefined is a 500', undefined, { status: 500, code: 'ROUTR_INTERNAL' }],
];

for (const [what, thrown, expected] of cases) {
  test(`errors - toResponseSpec: ${what}`, () => {
    const spec = toResponseSpec(thrown);
    assert.equal(spec.status, expected.status);
    assert.equal(spec.code, expected.code);
    assert.deepEqual(spec.headers, expected.headers ?? {});
  });
}

test('errors - a SipError may carry its own reason phrase', () => {
  assert.equal(toResponseSpec(new SipError('ROUTR_FORBIDDEN', 'no', { reason: 'Not Today' })).reason, 'Not Today');
});

test('errors - isErrorCode knows registry codes only', () => {
  assert.equal(isErrorCode('ROUTR_INTERNAL'), true);
  assert.equal(isErrorCode('constructor'), false);
  assert.equal(isErrorCode('ROUTR_NOPE'), false);
});

test('errors - default reason phrases', () => {
  assert.equal(defaultReason(100), 'Trying');
  assert.equal(defaultReason(487), 'Request Terminated');
  assert.equal(defaultReason(486), 'Busy Here');
  assert.equal(defaultReason(299), 'OK');
});
