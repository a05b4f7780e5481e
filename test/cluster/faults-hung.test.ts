/**
 * Issue 13, fault 4: a Redis that accepts connections but does not answer (CLIENT PAUSE, a
 * blocked primary) hung admission and REST with /ready 200: a new socket got nothing until the
 * pause ended. Now commands time out (commandTimeoutMs) and the node behaves as in an outage.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisServerInstalled, type NodeHandle } from '../helpers/cluster.js';
import { expectClusterState, FAST, FaultCluster, firstAnswer, publish, ready, subscribe } from '../helpers/faults.js';
import { waitFor } from '../helpers/wait.js';

const canRun = redisServerInstalled();
const f = new FaultCluster('faults-hung');
const PAUSE_MS = 3000; // Redis 7.0 cannot cut CLIENT PAUSE ALL short: keep it short

describe.skipIf(!canRun)('a Redis that accepts connections but does not answer', () => {
  beforeAll(() => f.start(2));
  afterAll(() => f.stop());

  it('answers 503 and not-ready past the command timeout, answers new sockets, and loses no accepted publish', async () => {
    const [a, b] = f.nodes as [NodeHandle, NodeHandle];
    const ca = f.client(a);
    const cb = f.client(b);
    await Promise.all([subscribe(ca, 'live'), subscribe(cb, 'live')]);
    const got: number[] = [];
    cb.channel('live').bind('e', (d: { n: number }) => got.push(d.n));

    // Publish through A every 50 ms for the whole fault; remember which were accepted.
    const accepted: number[] = [];
    const statuses = new Set<number>();
    let publishing = true;
    let sent = 0;
    const publisher = (async () => {
      for (let n = 0; publishing; n = ++sent) {
        const status = await publish(a, 'live', { n });
        statuses.add(status);
        if (status >= 200 && status < 300) accepted.push(n);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();

    await new Promise((r) => setTimeout(r, 200));
    const pausedAt = Date.now();
    await f.admin.client('PAUSE', String(PAUSE_MS), 'ALL');
    // A socket opened before the node knows: its admission waits for Redis at most commandTimeoutMs.
    const early = firstAnswer(a, PAUSE_MS);
    // Past the command timeout (500 ms) and a heartbeat, both nodes are in an outage.
    await waitFor(async () => (await ready(a)) === 503 && (await ready(b)) === 503, 'both nodes not ready during the pause', 2000);
    expect(Date.now() - pausedAt).toBeLessThan(FAST.commandTimeoutMs + 2 * FAST.heartbeatMs + 500);
    await waitFor(() => statuses.has(503), 'a REST publish answered 503 during the pause', 1000);

    // A new socket gets an answer while Redis is still paused (not when the pause ends).
    const fresh = await firstAnswer(a, PAUSE_MS);
    expect(fresh.answer).toBe('established');
    const first = await early;
    expect(first.answer).toBe('established');
    expect(first.afterMs).toBeLessThan(FAST.commandTimeoutMs + 500);
    expect(Date.now() - pausedAt).toBeLessThan(PAUSE_MS);

    await waitFor(async () => (await ready(a)) === 200 && (await ready(b)) === 200, 'both nodes ready after the pause', PAUSE_MS + 3000);
    // Bound: the pause plus one heartbeat tick and a resync.
    expect(Date.now() - pausedAt).toBeLessThan(PAUSE_MS + 1500);
    const since = sent;
    await waitFor(() => accepted.some((n) => n > since), 'publishes accepted again');
    publishing = false;
    await publisher;
    await waitFor(() => accepted.every((n) => got.includes(n)), () => `every accepted publish on B (missing ${accepted.filter((n) => !got.includes(n)).join(',')})`, 5000);

    await expectClusterState(f, { rosters: {}, subscriptions: { live: 2 }, connections: 4 });
    fresh.ws.close();
    first.ws.close();
    await waitFor(async () => Number(await f.admin.get(f.key('conns'))) === 2, 'the fresh socket uncounted');
    await expectClusterState(f, { rosters: {}, subscriptions: { live: 2 }, connections: 2 });
  });
});
