/**
 * Issue 13, fault 5 in a cluster: `herald start --take-over` of a Redis-backed node on its own
 * host. The old node syncs its counts to the cluster total before it releases stateDir, so the
 * new one must not add them to its own share again (they would be synced twice and the app's
 * quota would shrink by the old node's count). Real processes and a private redis-server.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Pusher from 'pusher';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisServerInstalled, TestRedis } from '../helpers/cluster.js';
import { buildCli, startHerald, writeConfig, type HeraldProcess } from '../helpers/herald-process.js';
import { freePort } from '../helpers/ports.js';
import { APP, connected, once, PusherClient, subscribed, type PusherJS } from '../helpers/server.js';

const canRun = redisServerInstalled();
if (!canRun) console.warn('[statedir cluster test] redis-server is not installed: SKIPPED');

const dir = mkdtempSync(join(tmpdir(), 'herald-statedir-cluster-'));
const children: HeraldProcess[] = [];
const clients: PusherJS[] = [];
let redis: TestRedis | undefined;

beforeAll(async () => {
  await buildCli();
  if (canRun) redis = await TestRedis.start();
}, 60_000);
afterAll(async () => {
  for (const c of clients) c.disconnect();
  for (const p of children) p.child.kill('SIGKILL');
  await redis?.stop();
});

const remaining = (res: { headers: { get(name: string): string | null } }): number => Number(res.headers.get('x-herald-quota-remaining'));
const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe.runIf(canRun)('--take-over of a Redis-backed node', () => {
  it('keeps the cluster-wide day count exact: the old node\'s messages are counted once', async () => {
    const port = await freePort();
    const stateDir = join(dir, 'state');
    const file = join(dir, 'node.json');
    writeConfig(file, {
      port,
      metricsPort: 0,
      shutdownGraceSec: 5,
      stateDir,
      usageFlushSec: 600, // the old node's counts reach usage.json only at its stop
      adapter: { driver: 'redis', redisUrl: redis?.url, keyPrefix: 'statedir-handover', heartbeatMs: 200, deadAfterMs: 1500, usageSyncMs: 100 },
      apps: [{ ...APP, limits: { maxMessagesPerDay: 1000 } }],
    });
    const env = { HERALD_STATE_DIR: stateDir };
    const old = await startHerald(file, { env });
    children.push(old);
    const pusher = new Pusher({ appId: APP.id, key: APP.key, secret: APP.secret, host: '127.0.0.1', port: String(port), useTLS: false });
    const c = new PusherClient(APP.key, { cluster: 'mt1', wsHost: '127.0.0.1', wsPort: port, forceTLS: false, enabledTransports: ['ws'] });
    clients.push(c);
    await connected(c);
    await subscribed(c, 'news');
    let before = 0;
    for (let i = 0; i < 5; i++) before = remaining(await pusher.trigger('news', 'tick', { i })); // 2 messages each: the call and the delivery
    expect(before).toBe(1000 - 10);

    const resubscribed = once((cb) => c.channel('news').bind('pusher:subscription_succeeded', cb), 'news subscribed again', 15_000);
    const next = await startHerald(file, { env, args: ['--take-over'] });
    children.push(next);
    await next.waitLog((l) => l.msg === 'stateDir handed over', 'stateDir handed over', 0, 15_000);
    expect((await old.exited).code).toBe(0);
    await resubscribed;

    await pause(500); // five usage syncs: a count added twice would be in the cluster total by now
    expect(remaining(await pusher.trigger('news', 'tock', {}))).toBe(before - 2);
    await pause(500);
    expect(remaining(await pusher.trigger('news', 'tock', {}))).toBe(before - 4);
  }, 45_000);
});
