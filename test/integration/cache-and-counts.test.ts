/**
 * Cache channels and subscription counts with real clients (issue 3, protocol §2.2, §4): the last
 * REST event replayed right after subscription_succeeded, pusher:cache_miss when there is none or
 * it expired, client events never cached; pusher_internal:subscription_count reaching pusher-js's
 * `pusher:subscription_count` binding, never on presence channels, throttled above 100.
 * The server's clock is injected (real time plus an offset the tests advance).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authClient } from '../helpers/auth.js';
import { APP, once, rawConnect, startServer, subscribed, type FrameReader, type PusherJS, type TestServer } from '../helpers/server.js';

const PLAIN = { id: 'plain-app', key: 'plain-key', secret: 'plain-secret-xxx' };
let t: TestServer;
let offsetMs = 0;

beforeAll(async () => {
  t = await startServer(
    {
      apps: [
        { ...APP, enableClientEvents: true, enableSubscriptionCount: true, cacheTtlSec: 60 },
        { ...PLAIN, enableSubscriptionCount: false },
      ],
    },
    () => Date.now() + offsetMs,
  );
});
afterAll(() => t.close());

function received<T = unknown>(client: PusherJS, channel: string, event: string): Promise<T> {
  return once<T>((cb) => client.channel(channel).bind(event, cb), `${event} on ${channel}`);
}

/** Subscribes and records every event pusher-js emits on the channel, in order, from the first. */
function subscribeRecording(client: PusherJS, channel: string): { events: Array<[string, unknown]>; done: Promise<unknown> } {
  const events: Array<[string, unknown]> = [];
  const ch = client.subscribe(channel);
  ch.bind_global((name: string, data: unknown) => events.push([name, data]));
  return { events, done: once((cb) => ch.bind('pusher:subscription_succeeded', cb), `subscription to ${channel}`) };
}

async function rawSubscribe(reader: FrameReader, channel: string, auth = ''): Promise<void> {
  reader.send({ event: 'pusher:subscribe', data: { channel, auth } });
  await reader.event('pusher_internal:subscription_succeeded');
}

/**
 * Every frame the socket received before a pong to a ping sent now: frames on one socket are
 * ordered, so this is everything the server had sent it so far.
 */
async function drain(reader: FrameReader): Promise<Array<Record<string, unknown>>> {
  reader.send({ event: 'pusher:ping', data: {} });
  await reader.event('pusher:pong');
  return reader.frames.splice(0);
}

function countsIn(frames: ReadonlyArray<Record<string, unknown>>): number[] {
  return frames
    .filter((f) => f.event === 'pusher_internal:subscription_count')
    .map((f) => (JSON.parse(f.data as string) as { subscription_count: number }).subscription_count);
}

describe('cache channels', () => {
  it('replays the last REST event to a new subscriber right after subscription_succeeded', async () => {
    await t.sdk().trigger('cache-price', 'tick', { p: 1 });
    await t.sdk().trigger('cache-price', 'tick', { p: 2 });
    const client = t.client();
    const { events, done } = subscribeRecording(client, 'cache-price');
    const replay = received(client, 'cache-price', 'tick');
    await done;
    expect(await replay).toEqual({ p: 2 });
    // This app also counts subscriptions: the count follows the replay.
    expect(events.map(([name]) => name)).toEqual(['pusher:subscription_succeeded', 'tick', 'pusher:subscription_count']);

    const { reader } = await rawConnect(t);
    reader.send({ event: 'pusher:subscribe', data: { channel: 'cache-price', auth: '' } });
    expect((await reader.next()).event).toBe('pusher_internal:subscription_succeeded');
    expect(await reader.next()).toEqual({ event: 'tick', channel: 'cache-price', data: '{"p":2}' });
  });

  it('sends pusher:cache_miss when nothing is cached, as a frame with only event and channel', async () => {
    const client = t.client();
    client.subscribe('cache-empty');
    await received(client, 'cache-empty', 'pusher:cache_miss');

    const { reader } = await rawConnect(t);
    reader.send({ event: 'pusher:subscribe', data: { channel: 'cache-empty', auth: '' } });
    expect((await reader.next()).event).toBe('pusher_internal:subscription_succeeded');
    expect(await reader.next()).toEqual({ event: 'pusher:cache_miss', channel: 'cache-empty' });
  });

  it('replays on private-cache and presence-cache channels too', async () => {
    const sdk = t.sdk();
    await sdk.trigger(['private-cache-doc', 'presence-cache-room'], 'state', { v: 'latest' });
    const client = authClient(t, { user_id: 'u1', user_info: {} });
    client.subscribe('private-cache-doc');
    client.subscribe('presence-cache-room');
    const a = received(client, 'private-cache-doc', 'state');
    const b = received(client, 'presence-cache-room', 'state');
    expect(await Promise.all([a, b])).toEqual([{ v: 'latest' }, { v: 'latest' }]);
  });

  it('forgets the cached event after cacheTtlSec', async () => {
    await t.sdk().trigger('cache-ttl', 'e', 'old');
    offsetMs += 61_000;
    const { reader } = await rawConnect(t);
    await rawSubscribe(reader, 'cache-ttl');
    expect((await reader.next()).event).toBe('pusher:cache_miss');
  });

  it('does not cache client events', async () => {
    const sender = authClient(t);
    const witness = authClient(t);
    await Promise.all([subscribed(sender, 'private-cache-chat'), subscribed(witness, 'private-cache-chat')]);
    const delivered = received(witness, 'private-cache-chat', 'client-said');
    sender.channel('private-cache-chat').trigger('client-said', { x: 1 });
    expect(await delivered).toEqual({ x: 1 }); // the server has handled the client event
    const late = authClient(t);
    late.subscribe('private-cache-chat');
    await received(late, 'private-cache-chat', 'pusher:cache_miss');
  });

  it('reports the cached event through GET /channels/{name}?info=cache', async () => {
    await t.sdk().trigger('cache-info', 'snap', { s: 1 });
    const res = await t.sdk().get({ path: '/channels/cache-info', params: { info: 'cache' } });
    expect(await res.json()).toEqual({ occupied: false, cache: { event: 'snap', data: '{"s":1}', ttl: 60 } });
    const none = await t.sdk().get({ path: '/channels/cache-none', params: { info: 'cache' } });
    expect(await none.json()).toEqual({ occupied: false, cache: null });
  });
});

describe('subscription_count', () => {
  it('reaches pusher-js’s pusher:subscription_count binding on every change', async () => {
    const a = t.client();
    a.subscribe('counted');
    expect(await received(a, 'counted', 'pusher:subscription_count')).toEqual({ subscription_count: 1 });

    const b = t.client();
    const two = received<{ subscription_count: number }>(a, 'counted', 'pusher:subscription_count');
    await subscribed(b, 'counted');
    expect(await two).toEqual({ subscription_count: 2 });
    expect((a.channel('counted') as unknown as { subscriptionCount: number }).subscriptionCount).toBe(2);

    const one = received<{ subscription_count: number }>(a, 'counted', 'pusher:subscription_count');
    b.unsubscribe('counted');
    expect(await one).toEqual({ subscription_count: 1 });
  });

  it('is never sent on presence channels, nor when the app does not enable it', async () => {
    const sdk = t.sdk();
    const { reader, socketId } = await rawConnect(t);
    const channel_data = JSON.stringify({ user_id: 'p' });
    reader.send({ event: 'pusher:subscribe', data: { channel: 'presence-nocount', auth: sdk.authorizeChannel(socketId, 'presence-nocount', { user_id: 'p' }).auth, channel_data } });
    await reader.event('pusher_internal:subscription_succeeded');
    expect(await drain(reader)).toEqual([]);

    const plain = await rawConnect(t, `/app/${PLAIN.key}?protocol=7&client=js&version=8.6.0`);
    await rawSubscribe(plain.reader, 'uncounted');
    expect(await drain(plain.reader)).toEqual([]);
  });

  it('is throttled to once per 5 s above 100 subscribers, with the latest count', async () => {
    const readers: FrameReader[] = [];
    for (let i = 0; i < 100; i++) {
      const { reader } = await rawConnect(t);
      await rawSubscribe(reader, 'big-counted');
      readers.push(reader);
    }
    const watcher = readers[0] as FrameReader;
    expect(countsIn(await drain(watcher))).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));

    const extra = await rawConnect(t);
    await rawSubscribe(extra.reader, 'big-counted'); // 101st: inside the 5 s window, held back
    expect(countsIn(await drain(watcher))).toEqual([]);

    offsetMs += 5000;
    const more = await rawConnect(t);
    await rawSubscribe(more.reader, 'big-counted'); // window over: the latest count goes out at once
    const latest = await watcher.next((f) => f.event === 'pusher_internal:subscription_count' && JSON.parse(f.data as string).subscription_count === 102);
    expect(latest.channel).toBe('big-counted');
    for (const r of [...readers, extra.reader, more.reader]) r.ws.close();
  });
});
