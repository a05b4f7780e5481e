/**
 * Presence channels with real pusher-js clients (issue 3): the member list on join, member_added
 * and member_removed keyed by user_id, one user on several sockets counted once, the per-app
 * member and user_info limits, and signed-in connections joining without channel_data.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authClient, authOptions, signedIn, signinOptions, type Member } from '../helpers/auth.js';
import { APP, connected, once, rawConnect, startServer, subscribed, type PusherJS, type TestServer } from '../helpers/server.js';

const SMALL = { id: 'small-app', key: 'small-key', secret: 'small-secret-xxx' };
let t: TestServer;

beforeAll(async () => {
  t = await startServer({
    apps: [
      { ...APP, enableClientEvents: true, enableSubscriptionCount: true },
      { ...SMALL, limits: { maxPresenceMembers: 2, maxPresenceUserInfoBytes: 64 } },
    ],
  });
});
afterAll(() => t.close());

interface Members {
  count: number;
  me: { id: string; info: unknown } | null;
  members: Record<string, unknown>;
}

const alice: Member = { user_id: 'alice', user_info: { name: 'Alice' } };
const bob: Member = { user_id: 'bob', user_info: { name: 'Bob' } };

function join(client: PusherJS, channel: string): Promise<Members> {
  return subscribed(client, channel) as Promise<Members>;
}

function next<T = { id: string; info: unknown }>(client: PusherJS, channel: string, event: string): Promise<T> {
  return once<T>((cb) => client.channel(channel).bind(event, cb), `${event} on ${channel}`);
}

/**
 * Resolves once the server has processed everything up to now for `client`'s subscribers of
 * `channel`: a REST event published after that point reaches `client`, and the socket's frames
 * are ordered, so anything the server sent before (e.g. a stray member_removed) arrived first.
 */
async function barrier(client: PusherJS, channel: string): Promise<void> {
  const got = next(client, channel, 'barrier');
  await t.sdk().trigger(channel, 'barrier', {});
  await got;
}

/** Resolves when `watcher` sees the subscriber count of public `probe` reach `n`. */
function countReaches(watcher: PusherJS, probe: string, n: number): Promise<unknown> {
  return once((cb) => watcher.channel(probe).bind('pusher:subscription_count', (d: { subscription_count: number }) => d.subscription_count === n && cb(d)), `count ${n} on ${probe}`);
}

describe('presence member list', () => {
  it('gives the subscriber every member including itself, keyed by user_id', async () => {
    const a = authClient(t, alice);
    const first = await join(a, 'presence-list');
    expect(first.count).toBe(1);
    expect(first.me).toEqual({ id: 'alice', info: { name: 'Alice' } });

    const b = authClient(t, bob);
    const second = await join(b, 'presence-list');
    expect(second.count).toBe(2);
    expect(second.me).toEqual({ id: 'bob', info: { name: 'Bob' } });
    expect(second.members).toEqual({ alice: { name: 'Alice' }, bob: { name: 'Bob' } });
  });

  it('sends {presence:{ids,hash,count}} as the data string of subscription_succeeded', async () => {
    const sdk = t.sdk();
    const { reader, socketId } = await rawConnect(t);
    const channelData = JSON.stringify({ user_id: 7, user_info: { n: 1 } });
    const { auth } = sdk.authorizeChannel(socketId, 'presence-raw', { user_id: 7 as unknown as string, user_info: { n: 1 } });
    reader.send({ event: 'pusher:subscribe', data: { channel: 'presence-raw', auth, channel_data: channelData } });
    const ok = await reader.event('pusher_internal:subscription_succeeded');
    expect(ok.channel).toBe('presence-raw');
    expect(JSON.parse(ok.data as string)).toEqual({ presence: { ids: ['7'], hash: { '7': { n: 1 } }, count: 1 } });
  });

  it('verifies the signature against the exact channel_data string sent', async () => {
    const sdk = t.sdk();
    const { reader, socketId } = await rawConnect(t);
    const signed = JSON.stringify({ user_id: 'mallory', user_info: {} });
    const { auth } = sdk.authorizeChannel(socketId, 'presence-exact', { user_id: 'mallory', user_info: {} });
    // Same member, different bytes: a re-serialising server would wrongly accept it.
    const resent = JSON.stringify({ user_info: {}, user_id: 'mallory' });
    expect(resent).not.toBe(signed);
    reader.send({ event: 'pusher:subscribe', data: { channel: 'presence-exact', auth, channel_data: resent } });
    const err = await reader.event('pusher:subscription_error');
    expect(JSON.parse(err.data as string)).toMatchObject({ type: 'AuthError', status: 401 });
  });
});

describe('member_added and member_removed', () => {
  it('tells the others when a user joins and when it leaves by unsubscribing or disconnecting', async () => {
    const a = authClient(t, alice);
    await join(a, 'presence-room');

    const b = authClient(t, bob);
    const added = next(a, 'presence-room', 'pusher:member_added');
    await join(b, 'presence-room');
    expect(await added).toEqual({ id: 'bob', info: { name: 'Bob' } });
    expect((a.channel('presence-room') as unknown as { members: Members }).members.count).toBe(2);

    let removed = next(a, 'presence-room', 'pusher:member_removed');
    b.unsubscribe('presence-room');
    expect(await removed).toEqual({ id: 'bob', info: { name: 'Bob' } });

    const b2 = authClient(t, bob);
    await join(b2, 'presence-room');
    removed = next(a, 'presence-room', 'pusher:member_removed');
    b2.disconnect();
    expect(await removed).toMatchObject({ id: 'bob' });
    expect((a.channel('presence-room') as unknown as { members: Members }).members.count).toBe(1);
  });

  it('counts one user on two sockets once and removes it only when the last socket leaves', async () => {
    const a = authClient(t, alice);
    await join(a, 'presence-twice');
    await subscribed(a, 'probe-twice'); // public channel whose subscription_count shows when bob's socket is gone

    const added: unknown[] = [];
    const removed: unknown[] = [];
    a.channel('presence-twice').bind('pusher:member_added', (m: unknown) => added.push(m));
    a.channel('presence-twice').bind('pusher:member_removed', (m: unknown) => removed.push(m));

    const bob1 = authClient(t, bob);
    const bob2 = authClient(t, bob);
    await join(bob1, 'presence-twice');
    await subscribed(bob1, 'probe-twice');
    const bob2Members = await join(bob2, 'presence-twice');
    expect(bob2Members.count).toBe(2);
    await barrier(a, 'presence-twice');
    expect(added).toEqual([{ id: 'bob', info: { name: 'Bob' } }]);
    expect((a.channel('presence-twice') as unknown as { members: Members }).members.count).toBe(2);

    const users = await t.sdk().get({ path: '/channels/presence-twice/users' });
    expect(await users.json()).toEqual({ users: [{ id: 'alice' }, { id: 'bob' }] });

    // bob's first socket goes away: the server has processed it once probe-twice counts 1.
    const gone = countReaches(a, 'probe-twice', 1);
    bob1.disconnect();
    await gone;
    await barrier(a, 'presence-twice');
    expect(removed).toEqual([]);

    const last = next(a, 'presence-twice', 'pusher:member_removed');
    bob2.unsubscribe('presence-twice');
    expect(await last).toEqual({ id: 'bob', info: { name: 'Bob' } });
    expect(removed).toHaveLength(1);
  });
});

describe('presence limits', () => {
  function smallClient(member: Member): PusherJS {
    const sdk = t.sdk(SMALL);
    return t.client(authOptions(sdk, member), SMALL.key);
  }

  function subscriptionError(client: PusherJS, channel: string): Promise<{ type: string; error: string; status: number }> {
    const ch = client.subscribe(channel);
    return once((cb) => ch.bind('pusher:subscription_error', cb), `subscription_error on ${channel}`);
  }

  it('refuses a member beyond maxPresenceMembers with LimitReached 403, but not another socket of a member', async () => {
    await join(smallClient({ user_id: 'u1' }), 'presence-full');
    await join(smallClient({ user_id: 'u2' }), 'presence-full');
    const err = await subscriptionError(smallClient({ user_id: 'u3' }), 'presence-full');
    expect(err).toMatchObject({ type: 'LimitReached', status: 403 });
    expect(err.error).toMatch(/full.*2 members/);
    const again = await join(smallClient({ user_id: 'u1' }), 'presence-full');
    expect(again.count).toBe(2);
  });

  it('refuses user_info over maxPresenceUserInfoBytes with LimitReached naming the limit', async () => {
    const err = await subscriptionError(smallClient({ user_id: 'big', user_info: { bio: 'x'.repeat(100) } }), 'presence-big');
    expect(err).toMatchObject({ type: 'LimitReached', status: 400 });
    expect(err.error).toMatch(/user_info is \d+ bytes; the limit is 64/);
  });

  it('refuses malformed channel_data as an AuthError that says what is wrong', async () => {
    const sdk = t.sdk();
    const { reader, socketId } = await rawConnect(t);
    // Correctly signed by the app, but the member has no user_id.
    const { auth, channel_data } = sdk.authorizeChannel(socketId, 'presence-bad', { user_info: { name: 'nobody' } } as unknown as Member);
    reader.send({ event: 'pusher:subscribe', data: { channel: 'presence-bad', auth, channel_data } });
    const err = await reader.event('pusher:subscription_error');
    expect(JSON.parse(err.data as string)).toMatchObject({ type: 'AuthError', status: 400, error: expect.stringMatching(/user_id/) });
  });
});

describe('signed-in presence', () => {
  it('lets a signed-in connection join without channel_data as its user', async () => {
    const sdk = t.sdk();
    const carol = t.client({
      channelAuthorization: {
        // The app signs only "<socket_id>:<channel>": no presence data, as for a private channel.
        customHandler: ({ socketId, channelName }: { socketId: string; channelName: string }, cb: (e: Error | null, a: unknown) => void) =>
          cb(null, sdk.authorizeChannel(socketId, channelName)),
      },
      ...signinOptions(sdk, { id: 'carol', user_info: { name: 'Carol' } }),
    });
    await connected(carol);
    await signedIn(carol);
    const members = await join(carol, 'presence-signed');
    expect(members.me).toEqual({ id: 'carol', info: { name: 'Carol' } });
    expect(members.count).toBe(1);

    const users = await sdk.get({ path: '/channels/presence-signed/users' });
    expect(await users.json()).toEqual({ users: [{ id: 'carol' }] });
  });

  it('refuses a presence subscription without channel_data from a connection that is not signed in', async () => {
    const sdk = t.sdk();
    const { reader, socketId } = await rawConnect(t);
    reader.send({ event: 'pusher:subscribe', data: { channel: 'presence-anon', auth: sdk.authorizeChannel(socketId, 'presence-anon').auth } });
    const err = await reader.event('pusher:subscription_error');
    expect(JSON.parse(err.data as string)).toMatchObject({ type: 'AuthError', status: 400 });
  });
});
