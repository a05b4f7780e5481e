/**
 * Conformance of the occupancy seam (src/adapter/occupancy.ts), run against the local and the
 * Redis implementation: subscription counts, channel summaries and lists, the connection quota;
 * then what needs several Redis nodes or a lost Redis.
 */
import { describe, expect, it } from 'vitest';
import { ClusterUnavailable } from '../../src/adapter/cluster.js';
import { waitFor } from '../helpers/wait.js';
import { app, freshPrefix, hasRedis, impls, redisNode, redisOf, useNodes } from './harness.js';

useNodes();

describe.each(impls)('occupancy conformance: $name', (impl) => {
  impl.it('counts subscriptions per channel and lists occupied channels', async () => {
    const n = await impl.node();
    const o = n.cluster.occupancy;
    expect(await n.subscribe(app, 'c1')).toBe(1);
    expect(await n.subscribe(app, 'c1')).toBe(2);
    expect(await n.subscribe(app, 'c2')).toBe(1);
    expect(await n.unsubscribe(app, 'c1')).toBe(1);
    expect(await n.unsubscribe(app, 'c2')).toBe(0);
    expect([...(await o.channels(app)).keys()]).toEqual(['c1']);
    expect(await o.channel(app, 'c1')).toEqual({ subscriptions: 1, users: 0 });
    expect(await o.channel(app, 'c2')).toEqual({ subscriptions: 0, users: 0 });
  });

  impl.it('counts distinct presence members as users', async () => {
    const n = await impl.node();
    for (const user of ['u1', 'u1', 'u2']) {
      await n.subscribe(app, 'presence-room');
      await n.cluster.presence.joined(app, 'presence-room', user, null);
    }
    expect(await n.cluster.occupancy.channel(app, 'presence-room')).toEqual({ subscriptions: 3, users: 2 });
    expect(await n.cluster.occupancy.channels(app)).toEqual(new Map([['presence-room', { subscriptions: 3, users: 2 }]]));
  });

  impl.it('holds a connection quota and frees slots on release', async () => {
    const n = await impl.node();
    expect(await n.connect(app, 2)).toBe(true);
    expect(await n.connect(app, 2)).toBe(true);
    expect(await n.connect(app, 2)).toBe(false);
    n.disconnect(app);
    expect(await n.connect(app, 2)).toBe(true);
  });
});

describe.skipIf(!hasRedis)('occupancy across Redis nodes', () => {
  it('adds counts from every node and checks the quota cluster-wide', async () => {
    const prefix = freshPrefix();
    const a = await redisNode({ prefix });
    const b = await redisNode({ prefix });
    expect(await a.subscribe(app, 'news')).toBe(1);
    expect(await b.subscribe(app, 'news')).toBe(2);
    expect(await a.cluster.occupancy.channel(app, 'news')).toEqual({ subscriptions: 2, users: 0 });
    expect(await a.connect(app, 2)).toBe(true);
    expect(await b.connect(app, 2)).toBe(true);
    expect(await a.connect(app, 2)).toBe(false);
    b.disconnect(app);
    await waitFor(async () => (await a.connect(app, 2)) === true, 'a slot after b released one');
  });

  it('answers queries with ClusterUnavailable while Redis is away, and counts locally', async () => {
    const n = await redisNode();
    await n.subscribe(app, 'c');
    redisOf(n).abandon();
    await waitFor(() => !n.cluster.healthy(), 'the node to notice');
    await expect(n.cluster.occupancy.channel(app, 'c')).rejects.toBeInstanceOf(ClusterUnavailable);
    await expect(n.cluster.occupancy.channels(app)).rejects.toBeInstanceOf(ClusterUnavailable);
    expect(await n.subscribe(app, 'c')).toBe(2); // this node's own share
    expect(await n.connect(app, 1)).toBe(true);
    expect(await n.connect(app, 1)).toBe(false);
  });
});
