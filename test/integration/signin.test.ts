/**
 * User authentication with real clients (issue 3, protocol §5.3): pusher.signin() signed by the
 * SDK's authenticateUser, sendToUser reaching pusher.user.bind on every socket of the user,
 * terminate_connections closing them all, #server-to-user-{id} kept to that user, sign-in
 * failures as pusher:error code null, and watchlist online/offline events.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authClient, closedWith, reachesState, sign, signedIn } from '../helpers/auth.js';
import { APP, once, rawConnect, startServer, type FrameReader, type PusherJS, type TestServer } from '../helpers/server.js';

let t: TestServer;

beforeAll(async () => {
  t = await startServer({ apps: [{ ...APP, enableWatchlist: true, limits: { maxWatchlistSize: 2 } }] });
});
afterAll(() => t.close());

function userClient(id: string, watchlist?: string[]): PusherJS {
  return authClient(t, undefined, { id, user_info: { name: id }, ...(watchlist ? { watchlist } : {}) });
}

function userEvent<T>(client: PusherJS, event: string): Promise<T> {
  return once<T>((cb) => client.user.bind(event, cb), `${event} on pusher.user`);
}

/** Signs a raw socket in as `user` (the exact user_data string is what gets signed). */
async function rawSignin(reader: FrameReader, socketId: string, user: Record<string, unknown>): Promise<Record<string, unknown>> {
  const user_data = JSON.stringify(user);
  const auth = sign(`${socketId}::user::${user_data}`);
  reader.send({ event: 'pusher:signin', data: { auth, user_data } });
  return reader.next((f) => f.event === 'pusher:signin_success' || f.event === 'pusher:error');
}

describe('sign-in', () => {
  it('signs in with pusher.signin() and receives sendToUser on pusher.user.bind', async () => {
    const client = userClient('u-send');
    await signedIn(client);
    expect(client.user.user_data).toEqual({ id: 'u-send', user_info: { name: 'u-send' } });
    const got = userEvent<{ hello: string }>(client, 'notice');
    const res = await t.sdk().sendToUser('u-send', 'notice', { hello: 'you' });
    expect(res.status).toBe(200);
    expect(await got).toEqual({ hello: 'you' });
  });

  it('answers pusher:signin_success with the signed user_data string', async () => {
    const { reader, socketId } = await rawConnect(t);
    const ok = await rawSignin(reader, socketId, { id: 'raw-user', user_info: { a: 1 } });
    expect(ok.event).toBe('pusher:signin_success');
    expect(JSON.parse(ok.data as string)).toEqual({ user_data: JSON.stringify({ id: 'raw-user', user_info: { a: 1 } }) });
  });

  it('delivers sendToUser to every socket of the user, and terminate_connections closes them all with 4009', async () => {
    const one = userClient('u-two');
    const two = userClient('u-two');
    const bystander = userClient('u-other');
    await Promise.all([signedIn(one), signedIn(two), signedIn(bystander)]);
    const both = Promise.all([userEvent(one, 'ping-both'), userEvent(two, 'ping-both')]);
    await t.sdk().sendToUser('u-two', 'ping-both', 'x');
    expect(await both).toEqual(['x', 'x']);

    const closes = Promise.all([closedWith(one, 'close of socket 1'), closedWith(two, 'close of socket 2')]);
    const res = await t.sdk().terminateUserConnections('u-two');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({});
    expect(await closes).toEqual([4009, 4009]);
    // 4009 is in pusher-js's "refused" range: it stays disconnected instead of reconnecting.
    await Promise.all([reachesState(one, 'disconnected'), reachesState(two, 'disconnected')]);

    // The other user is untouched.
    const still = userEvent(bystander, 'after');
    await t.sdk().sendToUser('u-other', 'after', 1);
    expect(await still).toBe(1);
  });

  it('refuses #server-to-user-X to a connection not signed in as X', async () => {
    const anon = await rawConnect(t);
    anon.reader.send({ event: 'pusher:subscribe', data: { channel: '#server-to-user-victim', auth: '' } });
    const err = await anon.reader.event('pusher:subscription_error');
    expect(err.channel).toBe('#server-to-user-victim');
    expect(JSON.parse(err.data as string)).toMatchObject({ type: 'AuthError', status: 401 });

    const other = await rawConnect(t);
    expect((await rawSignin(other.reader, other.socketId, { id: 'mallory' })).event).toBe('pusher:signin_success');
    other.reader.send({ event: 'pusher:subscribe', data: { channel: '#server-to-user-victim', auth: '' } });
    expect(JSON.parse((await other.reader.event('pusher:subscription_error')).data as string)).toMatchObject({ status: 401 });
    other.reader.send({ event: 'pusher:subscribe', data: { channel: '#server-to-user-mallory', auth: '' } });
    expect((await other.reader.event('pusher_internal:subscription_succeeded')).channel).toBe('#server-to-user-mallory');
  });

  it('answers a bad sign-in with pusher:error code null and a clear message', async () => {
    const { reader, socketId } = await rawConnect(t);
    const user_data = JSON.stringify({ id: 'eve' });
    reader.send({ event: 'pusher:signin', data: { auth: `${APP.key}:${'0'.repeat(64)}`, user_data } });
    const err = await reader.event('pusher:error');
    expect(err.data).toEqual({ code: null, message: `Sign-in failed: Invalid signature: expected HMAC SHA256 hex digest of ${socketId}::user::${user_data}` });

    for (const [user, message] of [
      [{ name: 'no id' }, /user_data.id must be a non-empty string/],
      [{ id: 'has space' }, /user_data.id may only contain/],
      [{ id: 'x'.repeat(129) }, /129 characters; the limit is 128/],
    ] as const) {
      const res = await rawSignin(reader, socketId, user);
      expect(res).toMatchObject({ event: 'pusher:error', data: { code: null, message: expect.stringMatching(message) } });
    }
    expect(reader.closed).toBeUndefined();
  });

  it('refuses signing in again as a different user on the same connection', async () => {
    const { reader, socketId } = await rawConnect(t);
    expect((await rawSignin(reader, socketId, { id: 'first' })).event).toBe('pusher:signin_success');
    const again = await rawSignin(reader, socketId, { id: 'second' });
    expect(again).toMatchObject({ event: 'pusher:error', data: { code: null, message: 'Sign-in failed: connection is already signed in as "first"' } });
  });
});

describe('watchlist', () => {
  it('reports a watched user offline, then online when it signs in, then offline when its last socket leaves', async () => {
    const watcher = userClient('w-watcher', ['w-friend']);
    const offline = once<{ user_ids: string[] }>((cb) => watcher.user.watchlist.bind('offline', cb), 'initial offline');
    await signedIn(watcher);
    expect((await offline).user_ids).toEqual(['w-friend']);

    const online = once<{ user_ids: string[] }>((cb) => watcher.user.watchlist.bind('online', cb), 'online');
    const friend = userClient('w-friend');
    await signedIn(friend);
    expect((await online).user_ids).toEqual(['w-friend']);

    const gone = once<{ user_ids: string[] }>((cb) => watcher.user.watchlist.bind('offline', cb), 'offline');
    friend.disconnect();
    expect((await gone).user_ids).toEqual(['w-friend']);
  });

  it('reports users already online at sign-in, and watches only the first maxWatchlistSize ids with 4302', async () => {
    const friend = userClient('w-early');
    await signedIn(friend);
    const { reader, socketId } = await rawConnect(t);
    const ok = await rawSignin(reader, socketId, { id: 'w-many', watchlist: ['w-early', 'w-absent', 'w-dropped'] });
    expect(ok.event).toBe('pusher:signin_success');
    expect(await reader.event('pusher:error')).toMatchObject({ data: { code: 4302, message: 'Watchlist limit exceeded: only the first 2 ids are watched' } });
    const events = await reader.event('pusher_internal:watchlist_events');
    expect(JSON.parse(events.data as string)).toEqual({
      events: [
        { name: 'online', user_ids: ['w-early'] },
        { name: 'offline', user_ids: ['w-absent'] },
      ],
    });
    expect(reader.closed).toBeUndefined();
    // Still signed in despite the limit.
    reader.send({ event: 'pusher:subscribe', data: { channel: '#server-to-user-w-many', auth: '' } });
    await reader.event('pusher_internal:subscription_succeeded');
  });
});
