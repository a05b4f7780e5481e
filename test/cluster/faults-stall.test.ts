/**
 * Issue 13, fault 1: a node stalled past deadAfterMs (SIGSTOP) was reaped by the others while
 * its Redis connection stayed up, so it never resynced and its later −1 deltas pushed the
 * cluster counters below the truth (false member_removed, empty rosters, a channel reported
 * vacated while subscribed). Now a reaped node finds itself unregistered and resyncs first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisServerInstalled, type NodeHandle } from '../helpers/cluster.js';
import { expectClusterState, FaultCluster, memberIds, sdk, subscribe } from '../helpers/faults.js';
import { waitFor } from '../helpers/wait.js';

const canRun = redisServerInstalled();
const f = new FaultCluster('faults-stall');

describe.skipIf(!canRun)('a node that stalls past deadAfterMs and comes back', () => {
  beforeAll(() => f.start(2));
  afterAll(() => f.stop());

  it('resyncs its whole state before its deltas count: rosters, occupancy and connections stay exact', async () => {
    const [a, b] = f.nodes as [NodeHandle, NodeHandle];
    const ca = f.client(a, 'u1');
    const cb = f.client(b, 'u2');
    await Promise.all([subscribe(ca, 'presence-r'), subscribe(ca, 'news')]);
    await Promise.all([subscribe(cb, 'presence-r'), subscribe(cb, 'news')]);
    await waitFor(() => memberIds(cb, 'presence-r').join() === 'u1,u2', 'u1 and u2 on B');
    const seen: string[] = [];
    cb.channel('presence-r').bind('pusher:member_removed', (m: { id: string }) => seen.push(`-${m.id}`));
    cb.channel('presence-r').bind('pusher:member_added', (m: { id: string }) => seen.push(`+${m.id}`));

    a.proc.kill('SIGSTOP');
    try {
      // B reaps A after deadAfterMs (1.5 s) + a heartbeat: from B's side A is dead.
      await waitFor(() => seen.includes('-u1'), 'B to reap the stalled node', 5000);
    } finally {
      a.proc.kill('SIGCONT');
    }
    const resumedAt = Date.now();
    await waitFor(() => seen.includes('+u1'), 'u1 announced again after A resynced', 5000);
    // Bound: one heartbeat to notice (250 ms) plus one resync round trip.
    expect(Date.now() - resumedAt).toBeLessThan(2000);
    expect(seen).toEqual(['-u1', '+u1']);
    expect(a.logs.some((l) => l.includes('reaped while it stalled'))).toBe(true);
    await expectClusterState(f, { rosters: { 'presence-r': ['u1', 'u2'] }, subscriptions: { 'presence-r': 2, news: 2 }, connections: 2 });

    // A's later −1 counts against its resynced share, not below the truth.
    ca.unsubscribe('news');
    await waitFor(async () => {
      const r = (await (await sdk(b).get({ path: '/channels/news', params: { info: 'subscription_count' } })).json()) as { subscription_count?: number };
      return r.subscription_count === 1;
    }, 'news down to 1 subscription');
    await expectClusterState(f, { rosters: { 'presence-r': ['u1', 'u2'] }, subscriptions: { 'presence-r': 2, news: 1 }, connections: 2 });
    ca.disconnect();
    await waitFor(() => seen.at(-1) === '-u1', 'u1 leaves for real');
    await expectClusterState(f, { rosters: { 'presence-r': ['u2'] }, subscriptions: { 'presence-r': 1, news: 1 }, connections: 1 });
  });
});
