/**
 * pusher_internal:subscription_count through the core (protocol §2.2; src/connection/subscribe.ts
 * subscriptionCountChanged), on a fake clock: every change is sent while a channel has at most
 * SUBSCRIPTION_COUNT_THRESHOLD subscribers; above it at most once per
 * SUBSCRIPTION_COUNT_THROTTLE_MS, carrying the latest count; never on presence channels.
 */
import { describe, expect, it } from 'vitest';
import { SUBSCRIPTION_COUNT_THRESHOLD as THRESHOLD, SUBSCRIPTION_COUNT_THROTTLE_MS as THROTTLE_MS } from '../../src/connection/subscribe.js';
import { coreWith, type FakeClient } from '../helpers/core.js';

const COUNT = 'pusher_internal:subscription_count';

function counts(c: FakeClient): number[] {
  return c.drain().flatMap((f) => (f.event === COUNT ? [(f.data as { subscription_count: number }).subscription_count] : []));
}

describe('subscription_count', () => {
  it('is sent to every subscriber on each change up to the threshold', () => {
    const h = coreWith({ enableSubscriptionCount: true });
    const [a, b] = [h.connect(), h.connect()];
    a.subscribe('news');
    expect(a.drain()).toMatchObject([{ event: 'pusher_internal:subscription_succeeded' }, { event: COUNT, channel: 'news', data: { subscription_count: 1 } }]);
    b.subscribe('news');
    expect(counts(a)).toEqual([2]);
    expect(counts(b)).toEqual([2]);
    b.unsubscribe('news');
    expect(counts(a)).toEqual([1]);
  });

  it('is not sent when the app does not enable it, nor on presence channels', () => {
    const h = coreWith({ enableSubscriptionCount: false });
    const c = h.connect();
    c.subscribe('news');
    expect(c.drain().map((f) => f.event)).toEqual(['pusher_internal:subscription_succeeded']);
    const on = coreWith({ enableSubscriptionCount: true });
    const p = on.connect();
    p.subscribe('presence-room', { user_id: 'u' });
    expect(p.drain().map((f) => f.event)).toEqual(['pusher_internal:subscription_succeeded']);
  });

  it('goes out at most once per throttle window above the threshold, with the latest count', () => {
    const h = coreWith({ enableSubscriptionCount: true }, { maxConnections: 1000 });
    const crowd: FakeClient[] = [];
    const join = (): FakeClient => {
      const c = h.connect();
      c.subscribe('crowd');
      crowd.push(c);
      return c;
    };
    const first = join();
    for (let i = 1; i < THRESHOLD; i++) join();
    expect(counts(first).at(-1)).toBe(THRESHOLD);

    // 101, 102, 103 within the window that the send of 100 opened: held back, then sent once.
    const late = join();
    join();
    join();
    h.clock.advance(THROTTLE_MS - 1);
    expect(counts(first)).toEqual([]);
    h.clock.advance(1);
    expect(counts(first)).toEqual([THRESHOLD + 3]);
    expect(counts(late)).toEqual([THRESHOLD + 3]);

    // One leaves and two join in the next window: one send, with the count at its end.
    crowd.pop()?.disconnect();
    join();
    join();
    h.clock.advance(THROTTLE_MS);
    expect(counts(first)).toEqual([THRESHOLD + 4]);
    h.clock.advance(THROTTLE_MS * 3);
    expect(counts(first)).toEqual([]);

    // After a quiet window the next change goes out at once, and opens a new window.
    crowd.pop()?.unsubscribe('crowd');
    expect(counts(first)).toEqual([THRESHOLD + 3]);
    crowd.pop()?.unsubscribe('crowd');
    expect(counts(first)).toEqual([]);

    // Back at the threshold the change goes out at once and replaces the held one.
    crowd.pop()?.unsubscribe('crowd');
    crowd.pop()?.unsubscribe('crowd');
    expect(counts(first)).toEqual([THRESHOLD]);
    h.clock.advance(THROTTLE_MS);
    expect(counts(first)).toEqual([]);
  });
});
