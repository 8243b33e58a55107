/**
 * The ResourceStore contract against the nats provider on the in-process bus (two buses on one hub stand for
 * two nodes), plus the KV provider's own promises: concurrent applies serialised, a stored set broken by hand
 * leaving the running set in place until an apply repairs it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryBus, MemoryHub } from '../../core/bus/index.js';
import { resourceStoreContract } from './resources-store.case.js';
import { kvNodesOn, kvProviderCases } from './resources-kv.case.js';
import { unique } from './support.js';

const makeNodes = () => {
  const hub = new MemoryHub();
  return kvNodesOn([new MemoryBus({ hub }), new MemoryBus({ hub })], unique('resources'));
};

resourceStoreContract(makeNodes);

describe('resources kv (memory bus)', () => {
  kvProviderCases(makeNodes);

  it('resources kv - keys are <Kind>.<escaped ref>', async () => {
    const { store, kv, cleanup } = await makeNodes();
    try {
      assert.ok((await store.apply([{ value: { apiVersion: 'v2beta1', kind: 'AccessControlList', ref: 'my.acl_1', spec: { accessControlList: {} } }, source: {} }])).ok);
      assert.deepEqual((await (await kv()).keys()).filter((k) => !k.startsWith('_meta')), ['AccessControlList.my_2eacl_5f1']);
    } finally {
      await cleanup();
    }
  });
});
