/**
 * Issue 8: three real Herald processes on their own ports share one Redis (a dedicated
 * redis-server started for this file), with pusher-js clients spread over them.
 */
import { createServer, type Server } from 'node:http';
import Pusher from 'pusher';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupNodeDirs, redisServerInstalled, startNode, TestRedis, type NodeHandle } from '../helpers/cluster.js';
import { closedWith, signedIn } from '../helpers/auth.js';
import { once, PusherClient, type PusherJS } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const APP = { id: 'c-app', key: 'c-key', secret: 'c-secret-xxxxxxx' };
const QUOTA_APP = { id: 'q-app', key: 'q-key', secret: 'q-secret-xxxxxxx', limits: { maxMessagesPerDay: 30 } };
const canRun = redisServerInstalled();
if (!canRun) console.warn('[cluster tests] redis-server is not installed: the multi-node tests are SKIPPED');

let redis: TestRedis;
let nodes: NodeHandle[] = [];
const clients: PusherJS[] = [];
const hooks: Array<{ events: Array<Record<string, unknown>> }> = [];
let hookServer: Server;
let hookUrl = '';
const webhookEvents: Array<Record<string, unknown>> = [];

function appConfig(): Record<string, unknown> {
  return {
    ...APP,
    enableClientEvents: true,
    limits: { maxConnections: 8 },
    webhooks: [{ url: hookUrl, events: ['channel_occupied', 'channel_vacated', 'member_added', 'member_removed'] }],
  };
}

async function node(): Promise<NodeHandle> {
  const n = await startNode({ redisUrl: redis.url, keyPrefix: 'cluster-test', apps: [appConfig(), QUOTA_APP], extra: { webhookBatchMs: 0, webhookDelayMs: 200 } });
  nodes.push(n);
  return n;
}

function client(n: NodeHandle, options: Record<string, unknown> = {}): PusherJS {
  const c = new PusherClient(APP.key, {
    cluster: 'mt1',
    wsHost: '127.0.0.1',
    wsPort: n.port,
    forceTLS: false,
    enabledTransports: ['ws'],
    ...options,
  });
  clients.push(c);
  return c;
}

function sdk(n: NodeHandle): Pusher {
  return new Pusher({ appId: APP.id, key: APP.key, secret: APP.secret, host: '127.0.0.1', port: String(n.port), useTLS: false });
}

function presenceAuth(n: NodeHandle, userId: string): Record<string, unknown> {
  const s = sdk(n);
  return {
    channelAuthorization: {
      customHandler: ({ socketId, channelName }: { socketId: string; channelName: string }, cb: (e: Error | null, a: unknown) => void) =>
        cb(null, channelName.startsWith('presence-') ? s.authorizeChannel(socketId, channelName, { user_id: userId, user_info: { name: userId } }) : s.authorizeChannel(socketId, channelName)),
    },
    userAuthentication: {
      customHandler: ({ socketId }: { socketId: string }, cb: (e: Error | null, a: unknown) => void) => cb(null, s.authenticateUser(socketId, { id: userId })),
    },
  };
}

function subscribe(c: PusherJS, channel: string): Promise<unknown> {
  const ch = c.subscribe(channel);
  return once((cb) => ch.bind('pusher:subscription_succeeded', cb), `subscribe ${channel}`, 8000);
}

function memberIds(c: PusherJS, channel: string): string[] {
  const members = (c.channel(channel) as unknown as { members: { each(fn: (m: { id: string }) => void): void } }).members;
  const ids: string[] = [];
  members.each((m) => ids.push(m.id));
  return ids.sort();
}

describe.skipIf(!canRun)('several Herald nodes on one Redis', () => {
  beforeAll(async () => {
    hookServer = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        const parsed = JSON.parse(body) as { events: Array<Record<string, unknown>> };
        hooks.push(parsed);
        webhookEvents.push(...parsed.events);
        res.writeHead(200).end('{}');
      });
    });
    await new Promise<void>((r) => hookServer.listen(0, '127.0.0.1', r));
    hookUrl = `http://127.0.0.1:${(hookServer.address() as { port: number }).port}/hook`;
    redis = await TestRedis.start();
    await Promise.all([node(), node(), node()]);
  });

  afterAll(async () => {
    for (const c of clients.splice(0)) c.disconnect();
    await Promise.all(nodes.map((n) => n.kill('SIGKILL')));
    await redis?.stop();
    hookServer?.close();
    cleanupNodeDirs();
  });

  it('delivers a trigger sent to node A to clients on B and C exactly once, in order', async () => {
    const [a, b, c] = nodes as [NodeHandle, NodeHandle, NodeHandle];
    const cb = client(b);
    const cc = client(c);
    await Promise.all([subscribe(cb, 'orders'), subscribe(cc, 'orders')]);
    const got: Record<string, number[]> = { b: [], c: [] };
    cb.channel('orders').bind('created', (d: { n: number }) => got.b?.push(d.n));
    cc.channel('orders').bind('created', (d: { n: number }) => got.c?.push(d.n));
    for (let n = 1; n <= 5; n++) await sdk(a).trigger('orders', 'created', { n });
    await waitFor(() => got.b?.length === 5 && got.c?.length === 5, 'five events on B and C');
    const marker = once((cbk) => cb.channel('orders').bind('marker', cbk), 'marker on B'); // bound before the trigger, which may arrive first
    await sdk(a).trigger('orders', 'marker', {});
    await marker;
    expect(got).toEqual({ b: [1, 2, 3, 4, 5], c: [1, 2, 3, 4, 5] });
  });

  it('excludes the socket_id across nodes', async () => {
    const [a, b] = nodes as [NodeHandle, NodeHandle];
    const sender = client(b);
    const other = client(b);
    await Promise.all([subscribe(sender, 'excl'), subscribe(other, 'excl')]);
    const senderGot: string[] = [];
    sender.channel('excl').bind('e', (d: string) => senderGot.push(d));
    await sdk(a).trigger('excl', 'e', 'skipped', { socket_id: sender.connection.socket_id });
    await sdk(a).trigger('excl', 'e', 'seen');
    await waitFor(() => senderGot.includes('seen'), 'second event on sender');
    expect(senderGot).toEqual(['seen']);
  });

  it('keeps one presence roster for the cluster; a user on two nodes counts once and leaves once', async () => {
    const [a, b, c] = nodes as [NodeHandle, NodeHandle, NodeHandle];
    const alice1 = client(a, presenceAuth(a, 'alice'));
    await subscribe(alice1, 'presence-room');
    const bob = client(b, presenceAuth(b, 'bob'));
    await subscribe(bob, 'presence-room');
    const alice2 = client(c, presenceAuth(c, 'alice'));
    await subscribe(alice2, 'presence-room');
    for (const cl of [alice1, bob, alice2]) await waitFor(() => memberIds(cl, 'presence-room').join() === 'alice,bob', 'roster alice,bob');

    const removed: string[] = [];
    bob.channel('presence-room').bind('pusher:member_removed', (m: { id: string }) => removed.push(m.id));
    const users = await sdk(b).get({ path: '/channels/presence-room/users' });
    expect(((await users.json()) as { users: Array<{ id: string }> }).users.map((u) => u.id).sort()).toEqual(['alice', 'bob']);
    alice1.disconnect();
    await waitFor(async () => {
      const r = await sdk(a).get({ path: '/channels/presence-room', params: { info: 'user_count' } });
      return ((await r.json()) as { user_count: number }).user_count === 2;
    }, 'user_count still 2 after one of alice’s sockets left');
    expect(removed).toEqual([]);
    alice2.disconnect();
    await waitFor(() => removed.length === 1, 'member_removed for alice');
    await waitFor(async () => webhookEvents.some((e) => e.name === 'member_removed' && e.user_id === 'alice'), 'member_removed webhook');
    expect(removed).toEqual(['alice']);
    expect(webhookEvents.filter((e) => e.name === 'member_added' && e.user_id === 'alice')).toHaveLength(1);
    expect(webhookEvents.filter((e) => e.name === 'member_removed' && e.user_id === 'alice')).toHaveLength(1);
  });

  it('answers REST queries the same on every node and fires channel_vacated only when the last node empties', async () => {
    const [a, b, c] = nodes as [NodeHandle, NodeHandle, NodeHandle];
    const ca = client(a);
    const cc = client(c);
    await Promise.all([subscribe(ca, 'shared'), subscribe(cc, 'shared')]);
    const answers = await Promise.all(nodes.map(async (n) => (await sdk(n).get({ path: '/channels/shared', params: { info: 'subscription_count' } })).json()));
    expect(answers).toEqual([0, 1, 2].map(() => ({ occupied: true, subscription_count: 2 })));
    const lists = await Promise.all(nodes.map(async (n) => Object.keys(((await (await sdk(n).get({ path: '/channels' })).json()) as { channels: object }).channels).sort()));
    expect(lists[1]).toEqual(lists[0]);
    expect(lists[2]).toEqual(lists[0]);
    expect(lists[0]).toContain('shared');

    ca.disconnect();
    await waitFor(async () => ((await (await sdk(b).get({ path: '/channels/shared', params: { info: 'subscription_count' } })).json()) as { subscription_count: number }).subscription_count === 1, 'count 1');
    await new Promise((r) => setTimeout(r, 400)); // past the 200 ms vacated delay: nothing must have fired
    expect(webhookEvents.filter((e) => e.name === 'channel_vacated' && e.channel === 'shared')).toHaveLength(0);
    cc.disconnect();
    await waitFor(() => webhookEvents.some((e) => e.name === 'channel_vacated' && e.channel === 'shared'), 'channel_vacated');
    expect(webhookEvents.filter((e) => e.name === 'channel_occupied' && e.channel === 'shared')).toHaveLength(1);
    expect(webhookEvents.filter((e) => e.name === 'channel_vacated' && e.channel === 'shared')).toHaveLength(1);
  });

  it('drops the vacated/occupied and removed/added pairs when a page reload lands on another node', async () => {
    const [a, b] = nodes as [NodeHandle, NodeHandle];
    const first = client(a, presenceAuth(a, 'reloader'));
    await Promise.all([subscribe(first, 'reload-ch'), subscribe(first, 'presence-reload')]);
    await waitFor(() => webhookEvents.some((e) => e.name === 'member_added' && e.channel === 'presence-reload'), 'member_added webhook');
    first.disconnect();
    const second = client(b, presenceAuth(b, 'reloader'));
    await Promise.all([subscribe(second, 'reload-ch'), subscribe(second, 'presence-reload')]);
    // A marker event after the 200 ms hold has passed on node a: by then any vacated/removed would be out.
    const probe = client(a);
    await subscribe(probe, 'reload-probe');
    probe.disconnect();
    await waitFor(() => webhookEvents.some((e) => e.name === 'channel_vacated' && e.channel === 'reload-probe'), 'probe vacated');
    const about = (ch: string) => webhookEvents.filter((e) => e.channel === ch).map((e) => e.name);
    expect(about('reload-ch')).toEqual(['channel_occupied']);
    expect(about('presence-reload')).toEqual(['channel_occupied', 'member_added']);
  });

  it('holds the connection quota cluster-wide and terminates a user on every node', async () => {
    for (const cl of clients.splice(0)) cl.disconnect();
    const [a, b, c] = nodes as [NodeHandle, NodeHandle, NodeHandle];
    await waitFor(async () => {
      const r = await sdk(a).get({ path: '/channels' });
      return Object.keys(((await r.json()) as { channels: object }).channels).length === 0;
    }, 'no channels left');
    const opened: PusherJS[] = [];
    for (let i = 0; i < 8; i++) {
      const cl = client(nodes[i % 3] as NodeHandle, presenceAuth(nodes[i % 3] as NodeHandle, i < 2 ? 'mallory' : `u${i}`));
      await once((cb) => cl.connection.bind('connected', cb), 'connected');
      opened.push(cl);
    }
    const ninth = client(c);
    const err = await once<{ error?: { data?: { code?: number } } }>((cb) => ninth.connection.bind('error', cb), 'quota error');
    expect(err.error?.data?.code).toBe(4004);

    const [m1, m2] = opened as [PusherJS, PusherJS];
    await Promise.all([m1, m2].map((m) => signedIn(m)));
    const closed = [m1, m2].map((m) => closedWith(m, 'terminated'));
    await sdk(b).terminateUserConnections('mallory');
    expect(await Promise.all(closed)).toEqual([4009, 4009]);
    void a;
  });

  it('shares the daily message quota across nodes (synced every 100 ms)', async () => {
    const [a, b] = nodes as [NodeHandle, NodeHandle];
    const q = (n: NodeHandle): Pusher => new Pusher({ appId: QUOTA_APP.id, key: QUOTA_APP.key, secret: QUOTA_APP.secret, host: '127.0.0.1', port: String(n.port), useTLS: false });
    for (let i = 0; i < 6; i++) expect((await q(a).trigger('q', 'e', i)).status).toBe(200);
    // Node b learns a's six messages at its next sync. Each probe is a signed query (only an
    // authenticated caller sees the quota header), which b counts itself: after the sync b
    // reports 30 - 6 - probes left.
    let probes = 0;
    let left = -1;
    await waitFor(async () => {
      probes++;
      const r = await q(b).get({ path: '/channels' });
      left = Number(r.headers.get('x-herald-quota-remaining'));
      return left === 30 - 6 - probes;
    }, 'b to count the messages sent through a');
    const statuses: number[] = [];
    for (let i = 0; i <= left; i++) statuses.push(await q(b).trigger('q', 'e', i).then((r) => r.status, (e: { status: number }) => e.status));
    expect(statuses).toEqual([...Array<number>(left).fill(200), 403]);
  });

  it('removes the members of a node killed with -9 within the documented bound', async () => {
    for (const cl of clients.splice(0)) cl.disconnect();
    const victim = await node();
    const [a] = nodes as [NodeHandle];
    const watcher = client(a, presenceAuth(a, 'watcher'));
    await subscribe(watcher, 'presence-crash');
    const doomed = client(victim, presenceAuth(victim, 'doomed'));
    await subscribe(doomed, 'presence-crash');
    await waitFor(() => memberIds(watcher, 'presence-crash').includes('doomed'), 'doomed joined');
    const removed = once<{ id: string }>((cb) => watcher.channel('presence-crash').bind('pusher:member_removed', cb), 'member_removed after kill -9', 10_000);
    doomed.connection.unbind(); // the client would reconnect elsewhere; keep it quiet
    const killedAt = Date.now();
    await victim.kill('SIGKILL');
    doomed.disconnect();
    expect((await removed).id).toBe('doomed');
    // deadAfterMs 1500 + one heartbeat (200 ms) + delivery: well within 3 s.
    expect(Date.now() - killedAt).toBeLessThan(3000);
  });

  it('keeps serving local clients while Redis is down and resumes cross-node delivery when it returns', async () => {
    for (const cl of clients.splice(0)) cl.disconnect();
    const [a, b] = nodes as [NodeHandle, NodeHandle];
    const auth = presenceAuth(a, 'x');
    const ca1 = client(a, auth);
    const ca2 = client(a, auth);
    const cb = client(b, presenceAuth(b, 'y'));
    await Promise.all([subscribe(ca1, 'private-outage'), subscribe(ca2, 'private-outage'), subscribe(cb, 'private-outage')]);
    await redis.stop();
    await waitFor(async () => (await fetch(`http://127.0.0.1:${a.port}/ready`)).status === 503, 'a reports not ready');
    // Local work goes on: a client event between two clients of node a is delivered.
    const whisper = once((cbk) => ca2.channel('private-outage').bind('client-typing', cbk), 'local client event during outage');
    ca1.channel('private-outage').trigger('client-typing', { during: true });
    expect(await whisper).toEqual({ during: true });
    // A REST publish that could reach only part of the cluster is refused, not half-delivered.
    const refused = await sdk(a).trigger('private-outage', 'x', {}).then((r) => r.status, (e: { status: number }) => e.status);
    expect(refused).toBe(503);
    await redis.start();
    await waitFor(async () => {
      const r = await fetch(`http://127.0.0.1:${a.port}/ready`);
      const r2 = await fetch(`http://127.0.0.1:${b.port}/ready`);
      return r.status === 200 && r2.status === 200;
    }, 'nodes ready again', 10_000);
    const remoteGot = once((cbk) => cb.channel('private-outage').bind('after', cbk), 'cross-node delivery after Redis returned');
    await sdk(a).trigger('private-outage', 'after', { back: true });
    expect(await remoteGot).toEqual({ back: true });
    const r = await sdk(b).get({ path: '/channels/private-outage', params: { info: 'subscription_count' } });
    expect(await r.json()).toEqual({ occupied: true, subscription_count: 3 });
  });
});
