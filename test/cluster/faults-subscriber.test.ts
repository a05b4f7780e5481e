/**
 * Issue 13, fault 3: the pub/sub subscriber connection's health was ignored: after `CLIENT KILL
 * TYPE pubsub` /ready stayed 200 and REST publishes answered 200 never reached a node's clients
 * (8 of 71 lost). Now a node is not ready until its subscriber is back, and a frame published
 * while some node's subscriber is away is kept for that node to catch up on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisServerInstalled, type NodeHandle } from '../helpers/cluster.js';
import { expectClusterState, FaultCluster, publish, ready, subscribe } from '../helpers/faults.js';
import { waitFor } from '../helpers/wait.js';

const canRun = redisServerInstalled();
const f = new FaultCluster('faults-sub');

describe.skipIf(!canRun)('a lost subscriber connection', () => {
  beforeAll(() => f.start(3));
  afterAll(() => f.stop());

  it('makes the node not ready until it has resubscribed, and loses no publish answered 2xx', async () => {
    const [a, b, c] = f.nodes as [NodeHandle, NodeHandle, NodeHandle];
    const ca = f.client(a, 'u1');
    const cb = f.client(b);
    const cc = f.client(c, 'u3');
    await Promise.all([subscribe(ca, 'presence-s'), subscribe(cc, 'presence-s'), subscribe(cb, 'feed'), subscribe(cc, 'feed')]);
    const got: Record<string, number[]> = { b: [], c: [] };
    cb.channel('feed').bind('e', (d: { n: number }) => got.b?.push(d.n));
    cc.channel('feed').bind('e', (d: { n: number }) => got.c?.push(d.n));

    // Publish through A (and, for C's own clients' sake, through B) every 10 ms; watch /ready on C.
    const accepted: number[] = [];
    const refused: number[] = [];
    const readiness = new Set<number>();
    let running = true;
    const publisher = (async () => {
      for (let n = 0; running; n++) {
        const status = await publish(n % 2 === 0 ? a : b, 'feed', { n });
        (status >= 200 && status < 300 ? accepted : refused).push(n);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const watcher = (async () => {
      while (running) {
        readiness.add(await ready(c));
        await new Promise((r) => setTimeout(r, 5));
      }
    })();

    await waitFor(() => accepted.length > 10, 'publishes flowing');
    for (let kill = 0; kill < 3; kill++) {
      const killed = await f.killConnections('subscriber');
      expect(killed).toBe(3);
      const at = Date.now();
      await waitFor(async () => (await ready(a)) === 200 && (await ready(b)) === 200 && (await ready(c)) === 200, 'all ready again', 3000);
      expect(Date.now() - at).toBeLessThan(1500); // reconnect back-off (100 ms) + resubscribe + catch-up
      await new Promise((r) => setTimeout(r, 300));
    }
    running = false;
    await Promise.all([publisher, watcher]);

    expect(readiness.has(503)).toBe(true); // C was not ready while its subscriber was away
    expect(c.logs.some((l) => l.includes('subscriber connection lost'))).toBe(true);
    const sent = accepted.filter((n) => n % 2 === 1); // B's own client gets B's publishes locally
    await waitFor(() => accepted.every((n) => got.c?.includes(n)), () => `C to get every accepted publish (missing ${accepted.filter((n) => !got.c?.includes(n)).join(',')}; refused ${refused.length})`, 3000);
    await waitFor(() => accepted.every((n) => got.b?.includes(n)), () => `B to get every accepted publish (missing ${accepted.filter((n) => !got.b?.includes(n)).join(',')})`, 3000);
    expect(got.c).toEqual(accepted); // once each, in publish order
    expect(got.b).toEqual(accepted);
    expect(sent.length).toBeGreaterThan(0);

    await expectClusterState(f, { rosters: { 'presence-s': ['u1', 'u3'] }, subscriptions: { 'presence-s': 2, feed: 2 }, connections: 3 });
  });
});
