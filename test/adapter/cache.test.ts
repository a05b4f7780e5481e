/**
 * Conformance of the cache-channel store (src/adapter/cache.ts), run against the local and the
 * Redis implementation.
 */
import { describe, expect, it } from 'vitest';
import { MAX_CACHED_CHANNELS } from '../../src/adapter/cache-local.js';
import { LocalCluster } from '../../src/adapter/cluster-local.js';
import { waitFor } from '../helpers/wait.js';
import { app, impls, useNodes } from './harness.js';

useNodes();

describe.each(impls)('cache conformance: $name', (impl) => {
  impl.it('stores the last cache-channel event', async () => {
    const cache = (await impl.node()).cluster.cache;
    expect(await cache.get(app, 'cache-x', 60)).toBeUndefined();
    cache.set(app, 'cache-x', { event: 'e1', data: 'd1', storedAtMs: Date.now() }, 60);
    cache.set(app, 'cache-x', { event: 'e2', data: 'd2', storedAtMs: Date.now() }, 60);
    await waitFor(async () => (await cache.get(app, 'cache-x', 60))?.event === 'e2', 'the second event');
    expect(await cache.get(app, 'cache-x', 60)).toMatchObject({ event: 'e2', data: 'd2' });
    expect(await cache.get(app, 'cache-y', 60)).toBeUndefined();
  });

  impl.it('forgets an event after its TTL', async () => {
    const cache = (await impl.node()).cluster.cache;
    cache.set(app, 'cache-t', { event: 'e', data: 'd', storedAtMs: Date.now() }, 1);
    await waitFor(async () => (await cache.get(app, 'cache-t', 1)) !== undefined, 'the event');
    await new Promise((r) => setTimeout(r, 1100));
    expect(await cache.get(app, 'cache-t', 1)).toBeUndefined();
  });
});

describe('the local cache', () => {
  it('keeps at most MAX_CACHED_CHANNELS channels per app, evicting the least recently written', () => {
    const cache = new LocalCluster(() => ({ channels: new Map(), users: new Map(), connections: 0 }), Date.now).cache;
    for (let i = 0; i <= MAX_CACHED_CHANNELS; i++) cache.set(app, `cache-${i}`, { event: 'e', data: String(i), storedAtMs: Date.now() });
    expect(cache.get(app, 'cache-0', 60)).toBeUndefined();
    expect(cache.get(app, 'cache-1', 60)?.data).toBe('1');
  });
});
