/**
 * The EdgePort's method filter in the server config: spec.edge.allowedRequests, and acceptableSIPMessages (the
 * Routr v2 spec's schema name for it) folded into it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkServerDocument } from '../../core/config/server.js';

test('edge config - allowedRequests and its Routr-spec name acceptableSIPMessages are one list, upper-cased; two different lists are refused', () => {
  const doc = (edge: Record<string, unknown>) => ({ apiVersion: 'v2beta1', kind: 'Server', ref: 'r', spec: { edge } });
  assert.deepEqual(checkServerDocument(doc({ acceptableSIPMessages: ['invite', 'REGISTER'] })).config?.spec.edge.allowedRequests, ['INVITE', 'REGISTER']);
  assert.deepEqual(checkServerDocument(doc({ allowedRequests: ['INVITE'], acceptableSIPMessages: ['invite'] })).config?.spec.edge.allowedRequests, ['INVITE']);
  const both = checkServerDocument(doc({ allowedRequests: ['INVITE'], acceptableSIPMessages: ['MESSAGE'] }));
  assert.equal(both.config, undefined);
  assert.match(both.problems[0].message, /another name for allowedRequests/);
  assert.equal(checkServerDocument(doc({ allowedRequests: [] })).config, undefined, 'an empty list would refuse everything: not a list');
  assert.equal(checkServerDocument(doc({})).config?.spec.edge.allowedRequests, undefined);
});
