/**
 * The usage-sync seam (src/adapter/usage.ts). One node's own meter is the whole count, so the
 * local cluster has no usage sync and the conformance runs against Redis.
 */
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { UsageSync, UsageTotal } from '../../src/adapter/usage.js';
import { REDIS_URL } from '../helpers/redis.js';
import { freshPrefix, hasRedis, impls, redisNode, useNodes } from './harness.js';

useNodes();

function usageOf(u: UsageSync | undefined): UsageSync {
  if (u === undefined) throw new Error('no usage sync');
  return u;
}

const NONE = new Map<string, UsageTotal>();

function totals(m: ReadonlyMap<string, UsageTotal> | undefined): Map<string, number> {
  return new Map([...(m ?? new Map<string, UsageTotal>())].map(([appId, t]) => [appId, t.total]));
}

/** Deletes the prefix's usage keys matching `pattern`, as a Redis restarted empty (or an eviction) would. */
async function lose(prefix: string, pattern: string): Promise<void> {
  const admin = new Redis(REDIS_URL);
  try {
    const keys = await admin.keys(`{${prefix}}:usage:${pattern}`);
    expect(keys.length).toBeGreaterThan(0);
    await admin.del(...keys);
  } finally {
    await admin.quit();
  }
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
    expect(totals(await a.sync(20_000, new Map([['a1', 5], ['a2', 1]]), NONE))).toEqual(new Map([['a1', 5], ['a2', 1]]));
    expect(totals(await b.sync(20_000, new Map([['a1', 3]]), NONE))).toEqual(new Map([['a1', 8]]));
    expect(totals(await a.sync(20_000, new Map([['a1', 0], ['a2', 0]]), NONE))).toEqual(new Map([['a1', 8], ['a2', 1]]));
    expect(totals(await a.sync(20_001, new Map([['a1', 2]]), NONE))).toEqual(new Map([['a1', 2]])); // a new UTC day starts at zero
  });

  it('answers undefined when there is nothing to add', async () => {
    expect(usageOf((await redisNode()).cluster.usage).sync(20_000, new Map(), NONE)).toBeUndefined();
  });

  it('restores a lost count from the highest total the nodes last saw, once, and adds what was counted since', async () => {
    // Redis restarted empty used to take the day's synced counts with it: each node then knew
    // only its own share. The totals the nodes last saw come back (the highest, not their sum).
    const prefix = freshPrefix();
    const a = usageOf((await redisNode({ prefix })).cluster.usage);
    const b = usageOf((await redisNode({ prefix })).cluster.usage);
    const seenA = (await a.sync(20_000, new Map([['a1', 5]]), NONE)) ?? NONE;
    const seenB = (await b.sync(20_000, new Map([['a1', 3]]), NONE)) ?? NONE;
    expect(totals(seenB)).toEqual(new Map([['a1', 8]]));
    expect(seenB.get('a1')?.generation).toBe(seenA.get('a1')?.generation);
    await lose(prefix, '*');
    // a last saw 5 and counted 2 since; b last saw 8 and counted 1 since: 8 + 2 + 1.
    const afterA = (await a.sync(20_000, new Map([['a1', 2]]), seenA)) ?? NONE;
    expect(totals(afterA)).toEqual(new Map([['a1', 7]]));
    expect(afterA.get('a1')?.generation).not.toBe(seenA.get('a1')?.generation);
    expect(totals(await b.sync(20_000, new Map([['a1', 1]]), seenB))).toEqual(new Map([['a1', 11]]));
    // A claim handed in again (a lost reply) or a stale one counts no more.
    expect(totals(await a.sync(20_000, new Map([['a1', 0]]), seenA))).toEqual(new Map([['a1', 11]]));
    expect(totals(await b.sync(20_000, new Map([['a1', 0]]), seenB))).toEqual(new Map([['a1', 11]]));
    expect(totals(await a.sync(20_000, new Map([['a1', 1]]), afterA))).toEqual(new Map([['a1', 12]]));
  });

  it('keeps a counter whose generation alone was lost, without adding old claims to it', async () => {
    const prefix = freshPrefix();
    const a = usageOf((await redisNode({ prefix })).cluster.usage);
    const seen = (await a.sync(20_000, new Map([['a1', 4]]), NONE)) ?? NONE;
    await a.sync(20_000, new Map([['a1', 2]]), seen);
    await lose(prefix, '*:gen');
    expect(totals(await a.sync(20_000, new Map([['a1', 1]]), seen))).toEqual(new Map([['a1', 7]]));
  });
});
