/**
 * Conformance of the presence seam (src/adapter/presence.ts), run against the local and the
 * Redis implementation: rosters keyed by user_id and users online; then what needs several
 * Redis nodes.
 */
import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.js';
import { app, freshPrefix, hasRedis, impls, redisNode, useNodes } from './harness.js';

useNodes();

describe.each(impls)('presence conformance: $name', (impl) => {
  impl.it('keys presence by user: first join and last leave only', async () => {
    const p = (await impl.node()).cluster.presence;
    const j1 = await p.joined(app, 'presence-r', 'u1', { n: 1 });
    expect(j1.first).toBe(true);
    expect([...j1.members]).toEqual([['u1', { n: 1 }]]);
    expect((await p.joined(app, 'presence-r', 'u1', { n: 1 })).first).toBe(false);
    const j3 = await p.joined(app, 'presence-r', 'u2', null);
    expect(j3.first).toBe(true);
    expect(new Map(j3.members)).toEqual(new Map([['u1', { n: 1 }], ['u2', null]]));
    expect([...(await p.members(app, 'presence-r'))].sort()).toEqual(['u1', 'u2']);
    expect(await p.left(app, 'presence-r', 'u1')).toBe(false);
    expect(await p.left(app, 'presence-r', 'u1')).toBe(true);
    expect(await p.members(app, 'presence-r')).toEqual(['u2']);
    expect(await p.left(app, 'presence-r', 'u2')).toBe(true);
    expect(await p.members(app, 'presence-r')).toEqual([]);
  });

  impl.it('tracks signed-in users for online status', async () => {
    const n = await impl.node();
    const p = n.cluster.presence;
    expect(await n.signIn(app, 'u1')).toBe(true);
    expect(await n.signIn(app, 'u1')).toBe(false);
    expect([...(await p.onlineUsers(app, ['u1', 'u2']))]).toEqual(['u1']);
    expect(await n.signOut(app, 'u1')).toBe(false);
    expect(await n.signOut(app, 'u1')).toBe(true);
    expect([...(await p.onlineUsers(app, ['u1']))]).toEqual([]);
  });
});

describe.skipIf(!hasRedis)('presence across Redis nodes', () => {
  it('counts a user on two nodes once, and sends the roster from every node', async () => {
    const prefix = freshPrefix();
    const a = (await redisNode({ prefix })).cluster.presence;
    const b = (await redisNode({ prefix })).cluster.presence;
    expect((await a.joined(app, 'presence-x', 'u1', { from: 'a' })).first).toBe(true);
    const onB = await b.joined(app, 'presence-x', 'u2', { from: 'b' });
    expect(onB.first).toBe(true);
    expect(new Map(onB.members)).toEqual(new Map([['u1', { from: 'a' }], ['u2', { from: 'b' }]]));
    expect((await b.joined(app, 'presence-x', 'u1', { from: 'a' })).first).toBe(false);
    expect(await a.left(app, 'presence-x', 'u1')).toBe(false); // still there through b
    expect(await b.left(app, 'presence-x', 'u1')).toBe(true);
  });

  it('tells the other nodes when a user comes online and goes offline', async () => {
    const prefix = freshPrefix();
    const a = await redisNode({ prefix });
    const b = await redisNode({ prefix });
    expect(await a.signIn(app, 'u1')).toBe(true);
    expect(await b.signIn(app, 'u1')).toBe(false);
    expect([...(await b.cluster.presence.onlineUsers(app, ['u1', 'u2']))]).toEqual(['u1']);
    expect(await b.signOut(app, 'u1')).toBe(false);
    expect(await a.signOut(app, 'u1')).toBe(true);
    await waitFor(() => b.sink.presence.length === 2, 'online and offline on b');
    expect(b.sink.presence).toEqual([
      ['a1', 'u1', true],
      ['a1', 'u1', false],
    ]);
    expect(a.sink.presence).toEqual([]); // a node is not told about its own users
  });
});
