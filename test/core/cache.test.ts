/**
 * Cache channels through the core (protocol §2.2, src/connection/subscribe.ts replayCache): a
 * subscriber gets the last event published on the channel right after subscription_succeeded,
 * or pusher:cache_miss when there is none or it expired after the app's cacheTtlSec.
 */
import { describe, expect, it } from 'vitest';
import { coreWith } from '../helpers/core.js';

describe('cache channels', () => {
  it('answers a subscription to an empty cache channel with subscription_succeeded then cache_miss', () => {
    const h = coreWith();
    const c = h.connect();
    c.subscribe('cache-scores');
    expect(c.drain().map((f) => f.raw)).toEqual([
      '{"event":"pusher_internal:subscription_succeeded","channel":"cache-scores","data":"{}"}',
      '{"event":"pusher:cache_miss","channel":"cache-scores"}',
    ]);
  });

  it('replays the last published event to a new subscriber, and only to it', () => {
    const h = coreWith();
    const early = h.connect();
    early.subscribe('cache-scores');
    early.drain();
    h.core.publish(h.app(), 'cache-scores', 'score', '{"home":1}');
    h.core.publish(h.app(), 'cache-scores', 'score', '{"home":2}');
    expect(early.drain()).toMatchObject([{ data: { home: 1 } }, { data: { home: 2 } }]);

    const late = h.connect();
    late.subscribe('cache-scores');
    expect(late.drain()).toMatchObject([
      { event: 'pusher_internal:subscription_succeeded', channel: 'cache-scores' },
      { event: 'score', channel: 'cache-scores', data: { home: 2 } },
    ]);
    expect(early.drain()).toEqual([]);
  });

  it('keeps an event published with nobody subscribed, for cacheTtlSec, then misses', () => {
    const h = coreWith({ cacheTtlSec: 60 });
    expect(h.core.publish(h.app(), 'private-cache-feed', 'item', '"first"')).toBe(0);
    h.clock.advance(59_000);
    const a = h.connect();
    a.subscribe('private-cache-feed');
    expect(a.drain()).toMatchObject([{ event: 'pusher_internal:subscription_succeeded' }, { event: 'item', data: 'first' }]);

    h.clock.advance(1_000);
    const b = h.connect();
    b.subscribe('private-cache-feed');
    expect(b.drain()).toMatchObject([{ event: 'pusher_internal:subscription_succeeded' }, { event: 'pusher:cache_miss', channel: 'private-cache-feed' }]);
  });
});
