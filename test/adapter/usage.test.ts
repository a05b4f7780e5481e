/**
 * The usage-sync seam (src/adapter/usage.ts). One node's own meter is the whole count, so the
 * local cluster has no usage sync and the conformance runs against Redis.
 */
import { describe, expect, it } from 'vitest';
import type { UsageSync } from '../../src/adapter/usage.js';
import { freshPrefix, hasRedis, impls, redisNode, useNodes } from './harness.js';

useNodes();

function usageOf(u: UsageSync | undefined): UsageSync {
  if (u === undefined) throw new Error('no usage sync');
  return u;
}

describe('usage sync on one node', () => {
  it('is absent: the node counts alone', async () => {
    const local = impls.find((i) => i.name === 'local');
    expect((await local?.node())?.cluster.usage).toBeUndefined();
  });
});

describe.skipIf(!hasRedis)('usage sync conformance: redis', () => {
  it("adds every node's counts per app and day and answers the totals", async () => {
    const prefix = freshPrefix();
    const a = usageOf((await redisNode({ prefix })).cluster.usage);
    const b = usageOf((await redisNode({ prefix })).cluster.usage);
    expect(await a.sync(20_000, new Map([['a1', 5], ['a2', 1]]))).toEqual(new Map([['a1', 5], ['a2', 1]]));
    expect(await b.sync(20_000, new Map([['a1', 3]]))).toEqual(new Map([['a1', 8]]));
    expect(await a.sync(20_000, new Map([['a1', 0], ['a2', 0]]))).toEqual(new Map([['a1', 8], ['a2', 1]]));
    expect(await a.sync(20_001, new Map([['a1', 2]]))).toEqual(new Map([['a1', 2]])); // a new UTC day starts at zero
  });

  it('answers undefined when there is nothing to add', async () => {
    expect(usageOf((await redisNode()).cluster.usage).sync(20_000, new Map())).toBeUndefined();
  });
});
