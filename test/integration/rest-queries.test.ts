/**
 * The REST channel queries through the `pusher` SDK's `get` (issue 3, protocol §7.1): GET
 * /channels with filter_by_prefix and info=user_count, GET /channels/{name} with occupied,
 * user_count, subscription_count and cache, GET /channels/{name}/users, and the 400s for
 * attributes that do not apply; plus terminate_connections' response.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authClient } from '../helpers/auth.js';
import { APP, startServer, subscribed, type TestServer } from '../helpers/server.js';

let t: TestServer;

beforeAll(async () => {
  t = await startServer({ apps: [{ ...APP, enableSubscriptionCount: true }] });
  // Two users in presence-lobby (alice on two sockets), one in presence-side, and public channels.
  const alice1 = authClient(t, { user_id: 'alice', user_info: {} });
  const alice2 = authClient(t, { user_id: 'alice', user_info: {} });
  const bob = authClient(t, { user_id: 'bob', user_info: {} });
  await Promise.all([
    subscribed(alice1, 'presence-lobby'),
    subscribed(alice2, 'presence-lobby'),
    subscribed(bob, 'presence-lobby'),
    subscribed(bob, 'presence-side'),
    subscribed(alice1, 'news'),
    subscribed(alice2, 'news'),
    subscribed(bob, 'private-notes'),
  ]);
});
afterAll(() => t.close());

async function get(path: string, params?: Record<string, string>): Promise<unknown> {
  const res = await t.sdk().get({ path, ...(params ? { params } : {}) });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  return res.json();
}

async function status(path: string, params?: Record<string, string>): Promise<{ status: number; body: string }> {
  try {
    const res = await t.sdk().get({ path, ...(params ? { params } : {}) });
    return { status: res.status, body: await res.text() };
  } catch (err) {
    const e = err as { status: number; body: string };
    return { status: e.status, body: e.body };
  }
}

describe('GET /channels', () => {
  it('lists occupied channels with empty attribute objects', async () => {
    expect(await get('/channels')).toEqual({
      channels: { 'presence-lobby': {}, 'presence-side': {}, news: {}, 'private-notes': {} },
    });
  });

  it('filters by prefix', async () => {
    expect(await get('/channels', { filter_by_prefix: 'private-' })).toEqual({ channels: { 'private-notes': {} } });
    expect(await get('/channels', { filter_by_prefix: 'nothing-' })).toEqual({ channels: {} });
  });

  it('gives user_count (distinct users) with filter_by_prefix=presence-', async () => {
    expect(await get('/channels', { filter_by_prefix: 'presence-', info: 'user_count' })).toEqual({
      channels: { 'presence-lobby': { user_count: 2 }, 'presence-side': { user_count: 1 } },
    });
  });

  it('refuses info=user_count without the presence- prefix, and other attributes, with 400', async () => {
    const bad = await status('/channels', { info: 'user_count' });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatch(/filter_by_prefix=presence-/);
    expect((await status('/channels', { filter_by_prefix: 'presence-', info: 'subscription_count' })).status).toBe(400);
    expect((await status('/channels', { info: 'bogus' })).status).toBe(400);
  });
});

describe('GET /channels/{name}', () => {
  it('reports occupied, and subscription_count on a non-presence channel', async () => {
    expect(await get('/channels/news')).toEqual({ occupied: true });
    expect(await get('/channels/news', { info: 'subscription_count' })).toEqual({ occupied: true, subscription_count: 2 });
    expect(await get('/channels/empty', { info: 'subscription_count' })).toEqual({ occupied: false, subscription_count: 0 });
  });

  it('answers subscription_count on a presence channel, with user_count (issue 11 finding 9)', async () => {
    // Regression: GET /channels/presence-…?info=subscription_count answered 400, though hosted Pusher answers it
    // when subscription counting is on (the Swift SDK's fetch options `.all` ask for both on presence channels).
    expect(await get('/channels/presence-lobby', { info: 'user_count,subscription_count' })).toEqual({ occupied: true, user_count: 2, subscription_count: 3 });
  });

  it('reports user_count on a presence channel', async () => {
    expect(await get('/channels/presence-lobby', { info: 'user_count' })).toEqual({ occupied: true, user_count: 2 });
    expect(await get('/channels/presence-gone', { info: 'user_count' })).toEqual({ occupied: false, user_count: 0 });
  });

  it('refuses attributes that do not apply to the channel with 400', async () => {
    expect((await status('/channels/news', { info: 'user_count' })).status).toBe(400);
    expect((await status('/channels/news', { info: 'cache' })).status).toBe(400);
  });

  it('reports the cache attribute of a cache channel', async () => {
    await t.sdk().trigger('cache-q', 'last', 'v');
    const got = (await get('/channels/cache-q', { info: 'cache' })) as { occupied: boolean; cache: { event: string; data: string; ttl: number } };
    expect(got).toMatchObject({ occupied: false, cache: { event: 'last', data: 'v' } });
    expect(got.cache.ttl).toBeGreaterThan(1700);
    expect(got.cache.ttl).toBeLessThanOrEqual(1800);
  });
});

describe('GET /channels/{name}/users', () => {
  it('lists the distinct user ids of a presence channel', async () => {
    expect(await get('/channels/presence-lobby/users')).toEqual({ users: [{ id: 'alice' }, { id: 'bob' }] });
    expect(await get('/channels/presence-nobody/users')).toEqual({ users: [] });
  });

  it('answers 400 for a non-presence channel', async () => {
    const res = await status('/channels/news/users');
    expect(res.status).toBe(400);
    expect(res.body).toMatch(/not a presence channel/);
  });
});

describe('POST /users/{id}/terminate_connections', () => {
  it('answers {} even when the user has no connection', async () => {
    const res = await t.sdk().terminateUserConnections('nobody-here');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({});
  });
});
