/**
 * Conformance of the cluster lifecycle (src/adapter/cluster.ts: start, stop, healthy,
 * nodeCount), run against the local and the Redis implementation; then what only several Redis
 * nodes show: leaving cleanly, reaping a node that stopped heartbeating, resynchronising after
 * Redis lost its data, and scripts called by SHA with their keys declared.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDIS_URL } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';
import { app, freshPrefix, hasRedis, impls, redisNode, redisOf, useNodes } from './harness.js';

useNodes();

describe.each(impls)('cluster conformance: $name', (impl) => {
  impl.it('is healthy once started and counts itself as one node', async () => {
    const n = await impl.node();
    expect(n.cluster.healthy()).toBe(true);
    await new Promise((r) => setTimeout(r, 250)); // a couple of heartbeats
    expect(n.cluster.nodeCount()).toBe(1);
  });

  impl.it('stops after its connections closed, and a second stop does no harm', async () => {
    const n = await impl.node();
    await n.subscribe(app, 'c');
    await n.unsubscribe(app, 'c');
    await n.cluster.stop();
    await n.cluster.stop();
  });
});

describe.skipIf(!hasRedis)('cluster across Redis nodes', () => {
  let admin: Redis;
  beforeAll(() => {
    admin = new Redis(REDIS_URL);
  });
  afterAll(() => admin.quit());

  it('counts live nodes and removes a node that stops cleanly at once', async () => {
    const prefix = freshPrefix();
    const a = await redisNode({ prefix });
    const b = await redisNode({ prefix });
    await waitFor(() => a.cluster.nodeCount() === 2 && b.cluster.nodeCount() === 2, 'two live nodes');
    await b.subscribe(app, 'c');
    await b.cluster.presence.joined(app, 'presence-q', 'u1', null);
    expect(await a.cluster.occupancy.channel(app, 'c')).toEqual({ subscriptions: 1, users: 0 });
    await b.cluster.stop();
    expect(await a.cluster.occupancy.channel(app, 'c')).toEqual({ subscriptions: 0, users: 0 });
    expect(await a.cluster.presence.members(app, 'presence-q')).toEqual([]);
    await waitFor(() => a.cluster.nodeCount() === 1, 'one live node');
  });

  it('reaps a node that stops heartbeating and announces what changed', async () => {
    const prefix = freshPrefix();
    const a = await redisNode({ prefix });
    const b = await redisNode({ prefix });
    expect((await a.cluster.presence.joined(app, 'presence-x', 'u1', { a: 1 })).first).toBe(true);
    expect((await b.cluster.presence.joined(app, 'presence-x', 'u1', { a: 1 })).first).toBe(false);
    expect((await b.cluster.presence.joined(app, 'presence-x', 'u2', {})).first).toBe(true);
    await b.subscribe(app, 'presence-x');
    expect(await a.connect(app, 3)).toBe(true);
    expect(await b.connect(app, 3)).toBe(true);
    expect(await b.connect(app, 3)).toBe(true);
    expect(await a.connect(app, 3)).toBe(false);

    // b dies without a word, as under kill -9: no more heartbeats, no clean-up.
    redisOf(b).abandon();
    await waitFor(() => a.sink.transitions.some((t) => t.kind === 'member_removed' && t.userId === 'u2'), 'member_removed for u2');
    expect(a.sink.transitions.filter((t) => t.kind === 'member_removed').map((t) => (t as { userId: string }).userId)).toEqual(['u2']);
    expect(a.sink.transitions).toContainEqual({ kind: 'vacated', appId: 'a1', channel: 'presence-x' });
    expect(await a.cluster.presence.members(app, 'presence-x')).toEqual(['u1']);
    expect(await a.connect(app, 3)).toBe(true); // b's two connections were subtracted
  });

  it('resynchronises a node whose state Redis lost', async () => {
    const prefix = freshPrefix();
    const a = await redisNode({ prefix });
    await a.subscribe(app, 'c');
    await a.cluster.presence.joined(app, 'presence-y', 'u1', { x: 1 });
    await admin.del(...(await admin.keys(`{${prefix}}:*`)));
    expect(await a.cluster.presence.members(app, 'presence-y')).toEqual([]);
    // Drop a's command connection; on reconnect it replays its whole local state.
    await admin.client('KILL', 'ID', String(await redisOf(a).clientId()));
    await waitFor(() => a.sink.transitions.some((t) => t.kind === 'member_added'), 'resync member_added');
    await redisOf(a).waitHealthy();
    expect(a.sink.transitions).toContainEqual({ kind: 'member_added', appId: 'a1', channel: 'presence-y', userId: 'u1', info: { x: 1 } });
    expect(await a.cluster.presence.members(app, 'presence-y')).toEqual(['u1']);
    expect(await a.cluster.occupancy.channel(app, 'c')).toEqual({ subscriptions: 1, users: 0 });
  });

  it('sends each script once per connection, then calls it by SHA with its keys declared', async () => {
    const prefix = freshPrefix();
    const subs = `{${prefix}}:a:a1:subs`;
    const n = await redisNode({ prefix });
    const monitor = await admin.monitor();
    const seen: string[][] = [];
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (/^eval/i.test(String(args[0])) && args.includes(subs)) seen.push(args);
    });
    for (let i = 0; i < 5; i++) await n.subscribe(app, `c${i}`);
    await waitFor(() => seen.length >= 5, 'five script calls in MONITOR');
    monitor.disconnect();
    const names = seen.map((args) => String(args[0]).toLowerCase());
    expect(names).toEqual(['eval', 'evalsha', 'evalsha', 'evalsha', 'evalsha']);
    for (const args of seen) {
      expect(args[2]).toBe('3'); // numkeys: the counter, the node's contribution hash and the node set
      expect(args[3]).toBe(subs);
      expect(args[4]).toMatch(new RegExp(`^\\{${prefix}\\}:n:`));
    }
    expect(Math.max(...seen.slice(1).map((args) => args.join(' ').length))).toBeLessThan(260);
  });
});
