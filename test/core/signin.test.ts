/**
 * User authentication and watchlists through the core (protocol §5.3, §2.2; src/connection/
 * signin.ts): signin_success with the exact user_data, the #server-to-user channel and
 * sendToUser over REST, refusals that keep the connection, watchlist online/offline events per
 * user (not per connection), the 4302 watchlist limit, and terminate_connections (4009).
 */
import { describe, expect, it } from 'vitest';
import { coreWith } from '../helpers/core.js';

describe('sign-in', () => {
  it('answers signin_success with the user_data string as signed, and opens the user’s #server-to-user channel', async () => {
    const h = coreWith();
    const alice = h.connect();
    alice.signin({ id: 'alice', user_info: { name: 'Alice' } });
    alice.subscribe('#server-to-user-alice');
    expect(alice.drain()).toMatchObject([
      { event: 'pusher:signin_success', data: { user_data: '{"id":"alice","user_info":{"name":"Alice"}}' } },
      { event: 'pusher_internal:subscription_succeeded', channel: '#server-to-user-alice' },
    ]);

    const res = await h.request('POST', `/apps/${h.app().id}/events`, { name: 'notice', channels: ['#server-to-user-alice'], data: '{"n":1}' });
    expect(res.status).toBe(200);
    expect(alice.drain()).toMatchObject([{ event: 'notice', channel: '#server-to-user-alice', data: { n: 1 } }]);
  });

  it('refuses a forged sign-in with pusher:error code null and someone else’s user channel with AuthError 401, keeping the connection', () => {
    const h = coreWith();
    const mallory = h.connect();
    mallory.send({ event: 'pusher:signin', data: { user_data: '{"id":"alice"}', auth: `${h.app().key}:${'0'.repeat(64)}` } });
    mallory.subscribe('#server-to-user-alice');
    expect(mallory.drain()).toMatchObject([
      { event: 'pusher:error', data: { code: null, message: expect.stringMatching(/^Sign-in failed: Invalid signature/) as unknown } },
      { event: 'pusher:subscription_error', channel: '#server-to-user-alice', data: { type: 'AuthError', status: 401 } },
    ]);
    expect(mallory.conn.user).toBeUndefined();
    expect(mallory.conn.state).toBe('open');
  });

  it('closes every connection of a user with 4009 on terminate_connections, and no other', async () => {
    const h = coreWith();
    const [alice1, alice2, bob] = [h.connect(), h.connect(), h.connect()];
    alice1.signin({ id: 'alice' });
    alice2.signin({ id: 'alice' });
    bob.signin({ id: 'bob' });
    for (const c of [alice1, alice2, bob]) c.drain();

    const res = await h.request('POST', `/apps/${h.app().id}/users/alice/terminate_connections`, {});
    expect(res.status).toBe(200);
    for (const alice of [alice1, alice2]) {
      expect(alice.drain()).toMatchObject([{ event: 'pusher:error', data: { code: 4009, message: 'Connection is unauthorized: terminated by the application' } }]);
      expect(alice.port.closed).toEqual({ code: 4009, reason: 'Connection is unauthorized: terminated by the application', by: 'server' });
    }
    expect(bob.port.closed).toBeUndefined();
    expect(h.core.connectionCount).toBe(1);
  });
});

describe('watchlist', () => {
  it('tells a watcher who is online at sign-in, then each user’s first arrival and last departure', () => {
    const h = coreWith({ enableWatchlist: true });
    const alice = h.connect();
    alice.signin({ id: 'alice' });
    const watcher = h.connect();
    watcher.signin({ id: 'w', watchlist: ['alice', 'carol'] });
    expect(watcher.drain()).toMatchObject([
      { event: 'pusher:signin_success' },
      { event: 'pusher_internal:watchlist_events', data: { events: [{ name: 'online', user_ids: ['alice'] }, { name: 'offline', user_ids: ['carol'] }] } },
    ]);

    const carol1 = h.connect();
    carol1.signin({ id: 'carol' });
    expect(watcher.drain()).toMatchObject([{ event: 'pusher_internal:watchlist_events', data: { events: [{ name: 'online', user_ids: ['carol'] }] } }]);
    const carol2 = h.connect();
    carol2.signin({ id: 'carol' });
    carol1.disconnect();
    expect(watcher.drain()).toEqual([]);
    carol2.disconnect();
    expect(watcher.drain()).toMatchObject([{ event: 'pusher_internal:watchlist_events', data: { events: [{ name: 'offline', user_ids: ['carol'] }] } }]);
  });

  it('watches the first maxWatchlistSize ids and says so with 4302; sign-in still succeeds', () => {
    const h = coreWith({ enableWatchlist: true, limits: { maxWatchlistSize: 2 } });
    const c = h.connect();
    c.signin({ id: 'w', watchlist: ['a', 'b', 'c'] });
    expect(c.drain()).toMatchObject([
      { event: 'pusher:signin_success' },
      { event: 'pusher:error', data: { code: 4302, message: 'Watchlist limit exceeded: only the first 2 ids are watched' } },
      { event: 'pusher_internal:watchlist_events', data: { events: [{ name: 'offline', user_ids: ['a', 'b'] }] } },
    ]);
    expect(c.conn.user?.watchlist).toEqual(['a', 'b']);
  });

  it('sends no watchlist events when the app does not enable watchlists', () => {
    const h = coreWith({ enableWatchlist: false });
    const c = h.connect();
    c.signin({ id: 'w', watchlist: ['a'] });
    h.connect().signin({ id: 'a' });
    expect(c.drain().map((f) => f.event)).toEqual(['pusher:signin_success']);
  });
});
