/**
 * Client events with real pusher-js clients (issue 3, protocol §6): delivered to the other
 * subscribers and never echoed, user_id on presence channels, refused on public and encrypted
 * channels, when not subscribed and when the app disables them, and rate limited with 4301
 * while the connection stays open.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authClient, authOptions, sign } from '../helpers/auth.js';
import { APP, connected, once, rawConnect, startServer, subscribed, type PusherJS, type TestServer } from '../helpers/server.js';

const OFF = { id: 'quiet-app', key: 'quiet-key', secret: 'quiet-secret-xxx' };
let t: TestServer;

beforeAll(async () => {
  t = await startServer({
    apps: [
      { ...APP, enableClientEvents: true, limits: { maxPayloadBytes: 1000 } },
      { ...OFF, enableClientEvents: false },
    ],
  });
});
afterAll(() => t.close());

interface PusherErrorEvent {
  type: string;
  data: { code: number | null; message: string };
}

function nextError(client: PusherJS): Promise<PusherErrorEvent['data']> {
  return once<PusherErrorEvent['data']>((cb) => client.connection.bind('error', (e: PusherErrorEvent) => e.type === 'PusherError' && cb(e.data)), 'pusher:error');
}

function received<T = unknown>(client: PusherJS, channel: string, event: string): Promise<{ data: T; metadata: { user_id?: string } }> {
  return once((cb) => client.channel(channel).bind(event, (data: T, metadata: { user_id?: string }) => cb({ data, metadata })), `${event} on ${channel}`);
}

/** Every event name a client sees on `channel`, in order. */
function record(client: PusherJS, channel: string): string[] {
  const names: string[] = [];
  client.channel(channel).bind_global((name: string) => names.push(name));
  return names;
}

/** A REST event published now arrives after everything the server already sent to `client`. */
async function barrier(client: PusherJS, channel: string): Promise<void> {
  const got = received(client, channel, 'barrier');
  await t.sdk().trigger(channel, 'barrier', {});
  await got;
}

describe('delivery', () => {
  it('delivers a client event to the other subscriber of a private channel and not back to the sender', async () => {
    const sender = authClient(t);
    const other = authClient(t);
    await Promise.all([subscribed(sender, 'private-chat'), subscribed(other, 'private-chat')]);
    const senderSaw = record(sender, 'private-chat');

    const got = received(other, 'private-chat', 'client-typing');
    expect(sender.channel('private-chat').trigger('client-typing', { typing: true })).toBe(true);
    const { data, metadata } = await got;
    expect(data).toEqual({ typing: true });
    expect(metadata.user_id).toBeUndefined();

    await barrier(sender, 'private-chat');
    expect(senderSaw).toEqual(['barrier']);
  });

  it('adds the sender user_id on presence channels, which pusher-js passes as metadata.user_id', async () => {
    const alice = authClient(t, { user_id: 'alice', user_info: {} });
    const bob = authClient(t, { user_id: 'bob', user_info: {} });
    await subscribed(alice, 'presence-chat');
    await subscribed(bob, 'presence-chat');
    const got = received(bob, 'presence-chat', 'client-hello');
    alice.channel('presence-chat').trigger('client-hello', 'hi bob');
    expect(await got).toEqual({ data: 'hi bob', metadata: { user_id: 'alice' } });
  });

  it('forwards the frame with the data as sent and the user_id the server knows, never one from the payload', async () => {
    const sdk = t.sdk();
    const a = await rawConnect(t);
    const b = await rawConnect(t);
    for (const [r, id, user] of [[a.reader, a.socketId, 'a'], [b.reader, b.socketId, 'b']] as const) {
      const channel_data = JSON.stringify({ user_id: user });
      r.send({ event: 'pusher:subscribe', data: { channel: 'presence-raw-ce', auth: sdk.authorizeChannel(id, 'presence-raw-ce', { user_id: user }).auth, channel_data } });
      await r.event('pusher_internal:subscription_succeeded');
    }
    a.reader.send({ event: 'client-x', channel: 'presence-raw-ce', data: { n: 1 }, user_id: 'forged' });
    const frame = await b.reader.event('client-x');
    expect(frame).toEqual({ event: 'client-x', channel: 'presence-raw-ce', data: { n: 1 }, user_id: 'a' });
  });
});

describe('refusals', () => {
  it('refuses a client event on a public channel with pusher:error and delivers nothing', async () => {
    const sender = t.client();
    const other = t.client();
    await Promise.all([subscribed(sender, 'public-chat'), subscribed(other, 'public-chat')]);
    const otherSaw = record(other, 'public-chat');
    const err = nextError(sender);
    sender.channel('public-chat').trigger('client-nope', {});
    expect(await err).toEqual({ code: null, message: 'Client events are only allowed on private and presence channels, not on public-chat' });
    await barrier(other, 'public-chat');
    expect(otherSaw).toEqual(['barrier']);
  });

  it('refuses client events when the app has not enabled them, with Pusher’s message', async () => {
    const sdk = t.sdk(OFF);
    const sender = t.client(authOptions(sdk), OFF.key);
    await subscribed(sender, 'private-quiet');
    const err = nextError(sender);
    sender.channel('private-quiet').trigger('client-nope', {});
    expect(await err).toEqual({
      code: null,
      message: 'To send client events, you must enable this feature in the Settings page of your dashboard.',
    });
  });

  it('refuses client events on encrypted channels, on channels not subscribed, and over the size limit', async () => {
    const sdk = t.sdk();
    const { reader, socketId } = await rawConnect(t);
    reader.send({ event: 'pusher:subscribe', data: { channel: 'private-encrypted-x', auth: sign(`${socketId}:private-encrypted-x`) } });
    await reader.event('pusher_internal:subscription_succeeded');
    reader.send({ event: 'client-e', channel: 'private-encrypted-x', data: {} });
    expect((await reader.event('pusher:error')).data).toMatchObject({ code: null, message: expect.stringMatching(/only allowed on private and presence/) });

    reader.send({ event: 'client-e', channel: 'private-elsewhere', data: {} });
    expect((await reader.event('pusher:error')).data).toMatchObject({ code: null, message: expect.stringMatching(/not subscribed to private-elsewhere/) });

    reader.send({ event: 'pusher:subscribe', data: { channel: 'private-size', auth: sdk.authorizeChannel(socketId, 'private-size').auth } });
    await reader.event('pusher_internal:subscription_succeeded');
    reader.send({ event: 'client-big', channel: 'private-size', data: 'x'.repeat(1000) });
    expect((await reader.event('pusher:error')).data).toMatchObject({ message: expect.stringMatching(/bytes; the limit is 1000/) });
    expect(reader.closed).toBeUndefined();
  });
});

describe('rate limit', () => {
  it('answers the 11th event within a second with 4301 and keeps the connection open', async () => {
    const sender = authClient(t);
    const other = authClient(t);
    await Promise.all([subscribed(sender, 'private-burst'), subscribed(other, 'private-burst')]);
    const delivered: number[] = [];
    other.channel('private-burst').bind('client-n', (d: { i: number }) => delivered.push(d.i));
    const err = nextError(sender);
    for (let i = 1; i <= 11; i++) sender.channel('private-burst').trigger('client-n', { i });
    expect(await err).toEqual({ code: 4301, message: 'Client event rejected due to rate limit (10 per second)' });

    await barrier(other, 'private-burst');
    expect(delivered).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // Still connected: the sender keeps receiving.
    expect(sender.connection.state).toBe('connected');
    await barrier(sender, 'private-burst');
    expect(await connected(sender)).toMatch(/^\d+\.\d+$/);
  });
});
