/**
 * The webhook-hold seam (src/adapter/holds.ts). Only a cluster of several nodes has holds: on
 * one node the dispatcher's own delay line decides, so the local cluster has none and the
 * conformance runs against Redis.
 */
import { describe, expect, it } from 'vitest';
import type { ClusterHolds } from '../../src/adapter/holds.js';
import { ClusterUnavailable } from '../../src/adapter/cluster.js';
import { waitFor } from '../helpers/wait.js';
import { freshPrefix, hasRedis, impls, redisNode, redisOf, useNodes } from './harness.js';

useNodes();

function holdsOf(h: ClusterHolds | undefined): ClusterHolds {
  if (h === undefined) throw new Error('no holds');
  return h;
}

describe('holds on one node', () => {
  it('are absent: the node decides alone', async () => {
    const local = impls.find((i) => i.name === 'local');
    expect((await local?.node())?.cluster.holds).toBeUndefined();
  });
});

describe.skipIf(!hasRedis)('holds conformance: redis', () => {
  it('lets exactly one node claim a mark', async () => {
    const prefix = freshPrefix();
    const a = holdsOf((await redisNode({ prefix })).cluster.holds);
    const b = holdsOf((await redisNode({ prefix })).cluster.holds);
    expect(await b.claim('k1')).toBe(false); // nothing marked
    a.mark('k1', 10_000);
    await waitFor(async () => (await b.claim('k1')) === true, "b claims a's mark");
    expect(await a.claim('k1')).toBe(false);
    expect(await b.claim('k1')).toBe(false);
  });

  it('forgets a mark after its TTL', async () => {
    const h = holdsOf((await redisNode()).cluster.holds);
    h.mark('k2', 50);
    await new Promise((r) => setTimeout(r, 150));
    expect(await h.claim('k2')).toBe(false);
  });

  it('rejects a claim with ClusterUnavailable while Redis is away', async () => {
    const n = await redisNode();
    redisOf(n).abandon();
    await waitFor(() => !n.cluster.healthy(), 'the node to notice');
    await expect(holdsOf(n.cluster.holds).claim('k3')).rejects.toBeInstanceOf(ClusterUnavailable);
  });
});
