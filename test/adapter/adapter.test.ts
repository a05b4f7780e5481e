/**
 * One conformance suite for the adapter seam, run against the local adapter and the Redis
 * adapter (real Redis at 127.0.0.1:6379). The Redis run is skipped with a message only when no
 * Redis can be reached. The Redis-only part checks what needs several nodes: fan-out between
 * two adapter instances, reaping a silent node and resynchronising after Redis lost its data.
 */
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Adapter, AdapterSink, Transition } from '../../src/adapter/adapter.js';
import { LocalAdapter } from '../../src/adapter/local.js';
import { RedisAdapter } from '../../src/adapter/redis.js';
import type { App } from '../../src/apps/registry.js';
import { parseConfig } from '../../src/config/config.js';
import { REDIS_URL, redisAvailable } from '../helpers/redis.js';

const app = parseConfig({ apps: [{ id: 'a1', key: 'k1', secret: 'secret-s1-xxxxxx' }] }, 'test').apps[0] as App;
const logger = pino({ level: 'silent' });
const hasRedis = await redisAvailable();
if (!hasRedis) console.warn(`[adapter tests] Redis is not reachable at ${REDIS_URL}: the Redis adapter runs are SKIPPED`);

class RecordingSink implements AdapterSink {
  readonly delivered: Array<[string, string, string, string | undefined]> = [];
  readonly terminated: Array<[string, string]> = [];
  readonly presence: Array<[string, string, boolean]> = [];
  readonly transitions: Transition[] = [];
  #waiters: Array<() => void> = [];
  deliver(appId: string, channel: string, frame: string, except: string | undefined): void {
    this.delivered.push([appId, channel, frame, except]);
    this.#wake();
  }
  terminateUser(appId: string, userId: string): void {
    this.terminated.push([appId, userId]);
    this.#wake();
  }
  userPresence(appId: string, userId: string, online: boolean): void {
    this.presence.push([appId, userId, online]);
    this.#wake();
  }
  transition(t: Transition): void {
    this.transitions.push(t);
    this.#wake();
  }
  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
  async until(pred: () => boolean, what: string, ms = 8000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 50);
        this.#waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
}

let prefixN = 0;
function prefix(): string {
  return `herald-test-${process.pid}-${Date.now()}-${prefixN++}`;
}

interface Impl {
  name: string;
  make: () => Promise<Adapter>;
}

const started: Adapter[] = [];
async function startAdapter(a: Adapter, sink: AdapterSink = new RecordingSink()): Promise<Adapter> {
  await a.start(sink);
  started.push(a);
  return a;
}
afterEach(async () => {
  for (const a of started.splice(0)) await a.stop();
});
afterAll(async () => {
  if (!hasRedis) return;
  const admin = new Redis(REDIS_URL);
  const keys = await admin.keys(`{herald-test-${process.pid}-*`);
  if (keys.length > 0) await admin.del(...keys);
  await admin.quit();
});

const impls: Impl[] = [
  { name: 'local', make: () => startAdapter(new LocalAdapter(Date.now)) },
  {
    name: 'redis',
    make: () => startAdapter(new RedisAdapter({ url: REDIS_URL, keyPrefix: prefix(), heartbeatMs: 100, deadAfterMs: 600, logger })),
  },
];

describe.each(impls)('adapter conformance: $name', ({ name, make }) => {
  const maybe = name === 'redis' && !hasRedis ? it.skip : it;

  maybe('counts subscriptions per channel and lists occupied channels', async () => {
    const a = await make();
    expect(await a.subscriptionChanged(app, 'c1', 1)).toBe(1);
    expect(await a.subscriptionChanged(app, 'c1', 1)).toBe(2);
    expect(await a.subscriptionChanged(app, 'c2', 1)).toBe(1);
    expect(await a.subscriptionChanged(app, 'c1', -1)).toBe(1);
    expect(await a.subscriptionChanged(app, 'c2', -1)).toBe(0);
    const channels = await a.channels(app);
    expect([...channels.keys()]).toEqual(['c1']);
    expect(await a.channel(app, 'c1')).toEqual({ subscriptions: 1, users: 0 });
    expect(await a.channel(app, 'c2')).toEqual({ subscriptions: 0, users: 0 });
  });

  maybe('keys presence by user: first join and last leave only', async () => {
    const a = await make();
    const j1 = await a.presenceJoined(app, 'presence-r', 'u1', { n: 1 });
    expect(j1.first).toBe(true);
    expect([...j1.members]).toEqual([['u1', { n: 1 }]]);
    const j2 = await a.presenceJoined(app, 'presence-r', 'u1', { n: 1 });
    expect(j2.first).toBe(false);
    const j3 = await a.presenceJoined(app, 'presence-r', 'u2', null);
    expect(j3.first).toBe(true);
    expect(new Map(j3.members)).toEqual(new Map([['u1', { n: 1 }], ['u2', null]]));
    expect([...(await a.members(app, 'presence-r'))].sort()).toEqual(['u1', 'u2']);
    expect(await a.presenceLeft(app, 'presence-r', 'u1')).toBe(false);
    expect(await a.presenceLeft(app, 'presence-r', 'u1')).toBe(true);
    expect(await a.members(app, 'presence-r')).toEqual(['u2']);
  });

  maybe('holds a connection quota and frees slots on release', async () => {
    const a = await make();
    expect(await a.reserveConnection(app, 2)).toBe(true);
    expect(await a.reserveConnection(app, 2)).toBe(true);
    expect(await a.reserveConnection(app, 2)).toBe(false);
    a.releaseConnection(app);
    expect(await a.reserveConnection(app, 2)).toBe(true);
  });

  maybe('tracks signed-in users for online status', async () => {
    const a = await make();
    expect(await a.userChanged(app, 'u1', 1)).toBe(true);
    expect(await a.userChanged(app, 'u1', 1)).toBe(false);
    expect([...(await a.onlineUsers(app, ['u1', 'u2']))]).toEqual(['u1']);
    expect(await a.userChanged(app, 'u1', -1)).toBe(false);
    expect(await a.userChanged(app, 'u1', -1)).toBe(true);
    expect([...(await a.onlineUsers(app, ['u1']))]).toEqual([]);
  });

  maybe('stores the last cache-channel event with a TTL', async () => {
    const a = await make();
    expect(await a.cacheGet(app, 'cache-x', 60)).toBeUndefined();
    a.cacheSet(app, 'cache-x', { event: 'e', data: 'd', storedAtMs: Date.now() }, 60);
    const got = await (async () => {
      for (let i = 0; i < 50; i++) {
        const v = await a.cacheGet(app, 'cache-x', 60);
        if (v !== undefined) return v;
        await new Promise((r) => setTimeout(r, 10));
      }
      return undefined;
    })();
    expect(got).toMatchObject({ event: 'e', data: 'd' });
  });

  maybe('terminateUser reaches this node too', async () => {
    const sink = new RecordingSink();
    const a = name === 'local' ? await startAdapter(new LocalAdapter(Date.now), sink) : await startAdapter(new RedisAdapter({ url: REDIS_URL, keyPrefix: prefix(), heartbeatMs: 100, deadAfterMs: 600, logger }), sink);
    a.terminateUser(app, 'u9');
    expect(sink.terminated).toEqual([['a1', 'u9']]);
  });
});

describe.skipIf(!hasRedis)('Redis adapter across nodes', () => {
  let admin: Redis;
  beforeAll(() => {
    admin = new Redis(REDIS_URL);
  });
  afterAll(() => admin.quit());

  function node(p: string, sink: RecordingSink, id?: string): Promise<Adapter> {
    return startAdapter(new RedisAdapter({ url: REDIS_URL, keyPrefix: p, heartbeatMs: 100, deadAfterMs: 600, logger, nodeId: id }), sink);
  }

  it('fans out to nodes that watch the channel, with the exclusion and without echo', async () => {
    const p = prefix();
    const sa = new RecordingSink();
    const sb = new RecordingSink();
    const sc = new RecordingSink();
    const a = await node(p, sa);
    const b = await node(p, sb);
    await node(p, sc);
    await b.watchChannel(app, 'news');
    a.publish(app, 'news', 'frame-1', '1.2');
    a.publish(app, 'news', 'frame-2');
    await sb.until(() => sb.delivered.length === 2, 'two deliveries on b');
    expect(sb.delivered).toEqual([
      ['a1', 'news', 'frame-1', '1.2'],
      ['a1', 'news', 'frame-2', undefined],
    ]);
    expect(sa.delivered).toEqual([]);
    expect(sc.delivered).toEqual([]); // c never watched the channel
  });

  it('keeps presence per user across nodes and reaps a node that stops heartbeating', async () => {
    const p = prefix();
    const sa = new RecordingSink();
    const a = await node(p, sa);
    const b = (await node(p, new RecordingSink())) as RedisAdapter;
    expect((await a.presenceJoined(app, 'presence-x', 'u1', { a: 1 })).first).toBe(true);
    expect((await b.presenceJoined(app, 'presence-x', 'u1', { a: 1 })).first).toBe(false);
    expect((await b.presenceJoined(app, 'presence-x', 'u2', {})).first).toBe(true);
    await b.subscriptionChanged(app, 'presence-x', 1);
    expect(await a.reserveConnection(app, 3)).toBe(true);
    expect(await b.reserveConnection(app, 3)).toBe(true);
    expect(await b.reserveConnection(app, 3)).toBe(true);
    expect(await a.reserveConnection(app, 3)).toBe(false);

    // b dies without a word, as under kill -9: no more heartbeats, no clean-up.
    b.abandon();
    await sa.until(() => sa.transitions.some((t) => t.kind === 'member_removed' && t.userId === 'u2'), 'member_removed for u2');
    expect(sa.transitions.filter((t) => t.kind === 'member_removed').map((t) => (t as { userId: string }).userId)).toEqual(['u2']);
    expect(await a.members(app, 'presence-x')).toEqual(['u1']);
    expect(await a.reserveConnection(app, 3)).toBe(true); // b's two connections were subtracted
  });

  it('resynchronises a node whose state Redis lost', async () => {
    const p = prefix();
    const sa = new RecordingSink();
    const a = (await node(p, sa)) as RedisAdapter;
    await a.subscriptionChanged(app, 'c', 1);
    await a.presenceJoined(app, 'presence-y', 'u1', { x: 1 });
    const keys = await admin.keys(`{${p}}:*`);
    await admin.del(...keys);
    expect(await a.members(app, 'presence-y')).toEqual([]);
    // Drop a's command connection; on reconnect it replays its whole local state.
    await admin.client('KILL', 'ID', String(await a.clientId()));
    await sa.until(() => sa.transitions.some((t) => t.kind === 'member_added'), 'resync member_added', 8000);
    await a.waitHealthy();
    expect(await a.members(app, 'presence-y')).toEqual(['u1']);
    expect(await a.channel(app, 'c')).toEqual({ subscriptions: 1, users: 0 });
  });
});
