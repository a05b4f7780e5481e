/**
 * pusher:subscribe and pusher:unsubscribe through the core (src/connection/subscribe.ts) on fake
 * sockets: public and private channels, channel auth failures as subscription_error AuthError
 * 401, the maxChannelsPerConnection limit, and what a subscription changes about delivery.
 */
import { describe, expect, it } from 'vitest';
import { coreWith, socketAuth } from '../helpers/core.js';

describe('subscribe', () => {
  it('answers a public subscription with subscription_succeeded and delivers the channel’s events', () => {
    const h = coreWith();
    const alice = h.connect();
    const bob = h.connect();
    alice.subscribe('news');
    expect(alice.drain().map((f) => f.raw)).toEqual(['{"event":"pusher_internal:subscription_succeeded","channel":"news","data":"{}"}']);

    expect(h.core.publish(h.app(), 'news', 'headline', '{"n":1}')).toBe(1);
    expect(alice.drain()).toMatchObject([{ event: 'headline', channel: 'news', data: { n: 1 } }]);
    expect(bob.drain()).toEqual([]);
  });

  it('accepts a private subscription signed over "<socket_id>:<channel>"', () => {
    const h = coreWith();
    const alice = h.connect();
    alice.subscribe('private-room');
    expect(alice.drain()).toMatchObject([{ event: 'pusher_internal:subscription_succeeded', channel: 'private-room', data: {} }]);
    expect(alice.conn.authorized).toBe(true);
  });

  it('refuses a wrong signature and a missing auth with subscription_error AuthError 401, keeping the connection', () => {
    const h = coreWith();
    const mallory = h.connect();
    const other = h.connect();
    const forged = `${h.app().key}:${'0'.repeat(64)}`;
    // Correctly signed, but for another socket: a replayed auth is as bad as a forged one.
    const replayed = socketAuth(h.app(), `${other.socketId}:private-room`);
    for (const auth of [forged, replayed, undefined]) mallory.send({ event: 'pusher:subscribe', data: { channel: 'private-room', auth } });
    const errors = mallory.drain();
    expect(errors).toHaveLength(3);
    for (const e of errors) {
      expect(e).toMatchObject({ event: 'pusher:subscription_error', channel: 'private-room', data: { type: 'AuthError', status: 401 } });
    }
    expect(mallory.conn.channels.size).toBe(0);
    expect(h.core.publish(h.app(), 'private-room', 'secret', '{}')).toBe(0);
    expect(mallory.conn.state).toBe('open');
    expect(mallory.drain()).toEqual([]);
  });

  it('refuses a subscription past maxChannelsPerConnection with LimitReached 403, and accepts it again after an unsubscribe', () => {
    const h = coreWith({ limits: { maxChannelsPerConnection: 2 } });
    const c = h.connect();
    c.subscribe('a');
    c.subscribe('b');
    c.subscribe('c');
    expect(c.drain()).toMatchObject([
      { event: 'pusher_internal:subscription_succeeded', channel: 'a' },
      { event: 'pusher_internal:subscription_succeeded', channel: 'b' },
      { event: 'pusher:subscription_error', channel: 'c', data: { type: 'LimitReached', status: 403 } },
    ]);
    c.unsubscribe('a');
    c.subscribe('c');
    expect(c.drain()).toMatchObject([{ event: 'pusher_internal:subscription_succeeded', channel: 'c' }]);
    expect([...c.conn.channels.keys()].sort()).toEqual(['b', 'c']);
  });

  it('answers a second subscription to the same channel with pusher:error and keeps the first', () => {
    const h = coreWith();
    const c = h.connect();
    c.subscribe('news');
    c.subscribe('news');
    expect(c.drain()).toMatchObject([
      { event: 'pusher_internal:subscription_succeeded', channel: 'news' },
      { event: 'pusher:error', channel: 'news', data: { code: null, message: 'Existing subscription to channel news' } },
    ]);
    expect(h.core.publish(h.app(), 'news', 'e', '{}')).toBe(1);
  });

  it('sends nothing back for an unsubscribe, and stops delivery to that socket only', () => {
    const h = coreWith();
    const [a, b] = [h.connect(), h.connect()];
    for (const c of [a, b]) c.subscribe('news');
    a.unsubscribe('news');
    a.unsubscribe('never-subscribed');
    expect(a.drain()).toMatchObject([{ event: 'pusher_internal:subscription_succeeded' }]);
    expect(h.core.publish(h.app(), 'news', 'e', '"x"')).toBe(1);
    expect(a.drain()).toEqual([]);
    expect(b.drain()).toMatchObject([{ event: 'pusher_internal:subscription_succeeded' }, { event: 'e', data: 'x' }]);
  });

  it('forgets a closed socket’s channels: the channel is vacated when its last subscriber goes', () => {
    const h = coreWith();
    const c = h.connect();
    c.subscribe('news');
    expect(h.core.stats(h.app())).toEqual({ connections: 1, channels: 1, subscriptions: 1 });
    c.disconnect(1006);
    expect(h.core.stats(h.app())).toEqual({ connections: 0, channels: 0, subscriptions: 0 });
    expect(h.core.publish(h.app(), 'news', 'e', '{}')).toBe(0);
  });
});
