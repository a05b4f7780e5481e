/**
 * The cache-channel store of one node: per app, the last event of each cache channel, at most
 * MAX_CACHED_CHANNELS channels (the least recently written is evicted); an entry older than its
 * TTL is dropped when read.
 */
import type { App } from '../apps/registry.js';
import type { CachedEventData, EventCache } from './cache.js';

/** Cache-channel entries kept per app; the oldest is evicted past this. */
export const MAX_CACHED_CHANNELS = 10_000;

export class LocalCache implements EventCache {
  /** app id → channel → entry, in write order. */
  readonly #apps = new Map<string, Map<string, CachedEventData>>();

  constructor(readonly now: () => number) {}

  #cache(app: App): Map<string, CachedEventData> {
    let cache = this.#apps.get(app.id);
    if (cache === undefined) {
      cache = new Map();
      this.#apps.set(app.id, cache);
    }
    return cache;
  }

  set(app: App, channel: string, entry: CachedEventData): void {
    const cache = this.#cache(app);
    cache.delete(channel);
    cache.set(channel, entry);
    if (cache.size > MAX_CACHED_CHANNELS) {
      const oldest = cache.keys().next();
      if (!oldest.done) cache.delete(oldest.value);
    }
  }

  get(app: App, channel: string, ttlSec: number): CachedEventData | undefined {
    const cache = this.#apps.get(app.id);
    const entry = cache?.get(channel);
    if (cache === undefined || entry === undefined) return undefined;
    if (this.now() - entry.storedAtMs >= ttlSec * 1000) {
      cache.delete(channel);
      return undefined;
    }
    return entry;
  }
}
