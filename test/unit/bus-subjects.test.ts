/**
 * Subject naming and matching, without any bus: escaping of user data into tokens, versioned names, the
 * wildcard rules the memory bus must share with NATS, and the prefix-to-filter rule the NATS KV store uses.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  anyEdgeSubject,
  assertSubject,
  bucketName,
  edgeSubject,
  fromSubjectToken,
  HOSTS_QUEUE,
  PROCESS_SUBJECT,
  subjectMatches,
  subjectToken,
} from '../../core/bus/index.js';
import { prefixFilter } from '../../core/bus/rules.js';

describe('bus subjects', () => {
  it('names - carry the protocol version', () => {
    assert.equal(PROCESS_SUBJECT, 'routr.v1.process');
    assert.equal(HOSTS_QUEUE, 'routr.v1.hosts');
    assert.equal(edgeSubject('ep-1', 'forward'), 'routr.v1.edge.ep-1.forward');
    assert.equal(anyEdgeSubject('relay.response'), 'routr.v1.edge.*.relay.response');
    assert.equal(bucketName('locations'), 'routr_v1_locations');
  });

  it('subjectToken - escapes everything but [A-Za-z0-9-], so refs cannot inject tokens or wildcards', () => {
    assert.equal(subjectToken('edge.1'), 'edge_2e1');
    assert.equal(subjectToken('a b*>'), 'a_20b_2a_3e');
    assert.equal(subjectToken('é'), '_c3_a9');
    assert.equal(edgeSubject('x.>', 'forward'), 'routr.v1.edge.x_2e_3e.forward');
    assert.throws(() => subjectToken(''), RangeError);
    assert.throws(() => subjectToken('x'.repeat(129)), RangeError);
  });

  it('subjectToken - is injective: refs that differ give tokens that differ', () => {
    const refs = ['edge.1', 'edge_1', 'edge_2e1', 'edge-1', 'EDGE.1', 'edge 1', 'édge'];
    const tokens = refs.map(subjectToken);
    assert.equal(new Set(tokens).size, refs.length);
    for (const ref of refs) assert.equal(fromSubjectToken(subjectToken(ref)), ref);
  });

  it('edgeSubject - topics are ours and validated, not escaped', () => {
    assert.throws(() => edgeSubject('ep1', 'bad topic'), RangeError);
    assert.throws(() => edgeSubject('ep1', '*'), RangeError);
  });

  it('assertSubject - NATS rules, wildcards only where allowed', () => {
    for (const ok of ['a', 'a.b', 'routr.v1.edge.ep-1.forward', '_INBOX.x']) assertSubject(ok);
    for (const ok of ['a.*', 'a.>', '*.b.>', '>']) assertSubject(ok, { wildcards: true });
    for (const bad of ['', 'a..b', '.a', 'a.', 'a b', 'a\tb', 'a.*', 'a.>']) assert.throws(() => assertSubject(bad), RangeError, bad);
    for (const bad of ['a.>.b', 'a.b*', 'a.>x']) assert.throws(() => assertSubject(bad, { wildcards: true }), RangeError, bad);
  });

  it('subjectMatches - * is one token, a final > is one or more', () => {
    const table: Array<[string, string, boolean]> = [
      ['a.b', 'a.b', true],
      ['a.*', 'a.b', true],
      ['a.*', 'a.b.c', false],
      ['a.*', 'a', false],
      ['a.>', 'a.b.c', true],
      ['a.>', 'a', false],
      ['*.b.>', 'x.b.y', true],
      ['*.b.>', 'x.c.y', false],
      ['>', 'anything.at.all', true],
      ['a.b', 'a.b.c', false],
    ];
    for (const [pattern, subject, expected] of table) assert.equal(subjectMatches(pattern, subject), expected, `${pattern} ~ ${subject}`);
  });

  it('prefixFilter - the whole-token part of a KV prefix as a server-side filter', () => {
    assert.equal(prefixFilter(''), '>');
    assert.equal(prefixFilter('loc'), '>');
    assert.equal(prefixFilter('loc.'), 'loc.>');
    assert.equal(prefixFilter('loc.ali'), 'loc.>');
    assert.equal(prefixFilter('a.b.c'), 'a.b.>');
  });
});
