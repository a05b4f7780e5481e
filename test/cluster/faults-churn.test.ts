/**
 * Issue 13, fault 2: the resync after a Redis blip repeated while local changes happened during
 * a pass, so a node with steady connect/subscribe traffic could stay unhealthy (REST 503) for
 * as long as the traffic lasted. Now one pass suffices: deltas made after the snapshot follow it.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisServerInstalled, type NodeHandle } from '../helpers/cluster.js';
import { APP, expectClusterState, FaultCluster, memberIds, publish, ready, subscribe } from '../helpers/faults.js';
import { waitFor } from '../helpers/wait.js';

const canRun = redisServerInstalled();
const f = new FaultCluster('faults-churn');

/** One churn cycle: connect, subscribe to `channel`, wait for the answer, disconnect. */
function cycle(n: NodeHandle, channel: string): Promise<void> {
  const ws = new WebSocket(`ws://127.0.0.1:${n.port}/app/${APP.key}?protocol=7&client=js&version=8.4.0`);
  return new Promise<void>((resolve) => {
    const finish = (): void => {
      ws.terminate();
      resolve();
    };
    const timer = setTimeout(finish, 3000);
    ws.on('message', (d: Buffer) => {
      const text = String(d);
      if (text.includes('pusher:connection_established')) ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel } }));
      else if (text.includes('subscription_succeeded')) {
        clearTimeout(timer);
        setTimeout(finish, 5);
      }
    });
    ws.on('error', () => undefined);
    ws.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** A socket on `n` subscribed to `count` channels `{prefix}-i`: state that makes every resync pass take a while. */
function hold(n: NodeHandle, prefix: string, count: number): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${n.port}/app/${APP.key}?protocol=7&client=js&version=8.4.0`);
  let ok = 0;
  return new Promise<WebSocket>((resolve, reject) => {
    ws.on('message', (d: Buffer) => {
      const text = String(d);
      if (text.includes('pusher:connection_established')) {
        for (let i = 0; i < count; i++) ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel: `${prefix}-${i}` } }));
      } else if (text.includes('subscription_succeeded') && ++ok === count) resolve(ws);
    });
    ws.on('error', reject);
  });
}

describe.skipIf(!canRun)('resync under steady churn', () => {
  beforeAll(() => f.start(2));
  afterAll(() => f.stop());

  it('converges after a Redis blip while clients keep connecting and subscribing; the counts are exact after', async () => {
    const [a, b] = f.nodes as [NodeHandle, NodeHandle];
    const bulk = await Promise.all(Array.from({ length: 30 }, (_, i) => hold(a, `bulk${i}`, 100)));
    const ca = f.client(a, 'u1');
    const cb = f.client(b, 'u2');
    await Promise.all([subscribe(ca, 'presence-c'), subscribe(ca, 'news'), subscribe(cb, 'news')]);
    expect(memberIds(ca, 'presence-c')).toEqual(['u1']);

    let churning = true;
    let cycles = 0;
    const workers = Array.from({ length: 8 }, async (_, w) => {
      while (churning) {
        await cycle(a, `churn-${w % 3}`);
        cycles++;
      }
    });
    await waitFor(() => cycles > 20, 'churn under way');

    const before = cycles;
    expect(await f.killConnections('command')).toBe(2);
    const blipAt = Date.now();
    await waitFor(async () => (await ready(a)) === 503, 'A notices the blip', 2000);
    // Under churn, A becomes healthy again and REST stops answering 503.
    // The old resync loop never finished while churn went on; 15 s leaves room for a loaded CI machine.
    await waitFor(async () => (await ready(a)) === 200 && (await publish(a, 'news', {})) === 200, 'A healthy under churn', 15_000);
    const recoveredIn = Date.now() - blipAt;
    const during = cycles - before;
    await new Promise((r) => setTimeout(r, 300));
    churning = false;
    await Promise.all(workers);
    for (const ws of bulk) ws.close();
    expect(during).toBeGreaterThan(5); // the churn really ran through the resync
    // Reconnect back-off (100 ms) + one resync pass: under 2 s on an idle machine; the bound here allows for load.
    expect(recoveredIn).toBeLessThan(10_000);

    await waitFor(async () => Number(await f.admin.get(f.key('conns'))) === 2, 'churn connections all gone', 5000);
    await expectClusterState(f, { rosters: { 'presence-c': ['u1'] }, subscriptions: { 'presence-c': 1, news: 2 }, connections: 2 });
  });
});
