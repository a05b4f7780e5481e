/**
 * Issue 13, fault 6: a Redis that restarts empty took the day's synced message counts with it.
 * Each node then knew only its own share (two nodes, 40 messages counted, 60 of 100 left before;
 * 79 left on both after). Now each node remembers the last cluster-wide total it saw and hands
 * it in at its next sync, so the day's count comes back exactly, within a few sync intervals.
 */
import Pusher from 'pusher';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupNodeDirs, redisServerInstalled, startNode, TestRedis, type NodeHandle } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';

const QUOTA = 200;
const APP = { id: 'u-app', key: 'u-key', secret: 'u-secret-xxxxxxx', limits: { maxMessagesPerDay: QUOTA } };
const canRun = redisServerInstalled();
if (!canRun) console.warn('[cluster fault tests] redis-server is not installed: the lost-usage test is SKIPPED');

let redis: TestRedis;
let a: NodeHandle;
let b: NodeHandle;
/** Every message the nodes counted: publishes and the signed probes (each counts itself). */
let counted = 0;

function sdk(n: NodeHandle): Pusher {
  return new Pusher({ appId: APP.id, key: APP.key, secret: APP.secret, host: '127.0.0.1', port: String(n.port), useTLS: false });
}

/** A signed query (only an authenticated caller sees the quota header); the node counts it first. */
async function remaining(n: NodeHandle): Promise<number> {
  const r = await sdk(n).get({ path: '/channels' });
  counted++;
  return Number(r.headers.get('x-herald-quota-remaining'));
}

async function publish(n: NodeHandle, times: number): Promise<void> {
  for (let i = 0; i < times; i++) {
    expect((await sdk(n).trigger('usage', 'e', { i })).status).toBe(200);
    counted++;
  }
}

/** Both nodes report the whole cluster's count (their probes included). */
async function bothExact(what: string, ms: number): Promise<void> {
  const seen: Record<string, number> = {};
  for (const [name, n] of [['a', a], ['b', b]] as const) {
    await waitFor(
      async () => (seen[name] = await remaining(n)) === QUOTA - counted,
      () => `${what}: node ${name} to report ${QUOTA - counted} left (last ${seen[name]})`,
      ms,
      50,
    );
  }
}

async function ready(n: NodeHandle): Promise<boolean> {
  return (await fetch(`http://127.0.0.1:${n.port}/ready`)).status === 200;
}

describe.skipIf(!canRun)('fault 6: Redis restarts empty (two nodes, usageSyncMs 100)', () => {
  beforeAll(async () => {
    redis = await TestRedis.start();
    const opts = { redisUrl: redis.url, keyPrefix: 'faults-usage', apps: [APP] };
    [a, b] = await Promise.all([startNode(opts), startNode(opts)]);
  });

  afterAll(async () => {
    await Promise.all([a?.kill(), b?.kill()]);
    await redis?.stop();
    cleanupNodeDirs();
  });

  it("restores the day's cluster-wide message count on every node within a few sync intervals", async () => {
    await publish(a, 25);
    await publish(b, 15);
    await bothExact('before the loss', 5000);
    const before = QUOTA - counted;
    expect(before).toBeLessThanOrEqual(QUOTA - 42);

    await redis.stop();
    await redis.start(); // same port, no data
    await waitFor(async () => (await ready(a)) && (await ready(b)), 'both nodes ready on the empty Redis', 10_000, 50);
    const readyAt = Date.now();
    await bothExact('after the loss', 3000);
    expect(Date.now() - readyAt).toBeLessThan(3000);
    // Exact, not merely eventually close: a few intervals later nothing was counted twice.
    await new Promise((r) => setTimeout(r, 500));
    await bothExact('settled after the loss', 1000);

    // And the quota holds at the true count: what b reports left is accepted, and not one more.
    const left = await remaining(b);
    const statuses: number[] = [];
    for (let i = 0; i <= left; i++) statuses.push(await sdk(b).trigger('usage', 'e', i).then((r) => r.status, (e: { status: number }) => e.status));
    expect(statuses).toEqual([...Array<number>(left).fill(200), 403]);
  });
});
