/**
 * The cache-channel store (protocol §2.3): the last event published on each cache-* channel,
 * replayed to new subscribers and shown by GET /channels/{name}?info=cache until its TTL ends.
 */
import type { App } from '../apps/registry.js';
import type { Maybe } from '../maybe.js';

export interface CachedEventData {
  readonly event: string;
  readonly data: string;
  readonly storedAtMs: number;
}

export interface EventCache {
  /** Stores the channel's last event for `ttlSec`. Best effort: a store that is away drops it. */
  set(app: App, channel: string, entry: CachedEventData, ttlSec: number): void;
  /** The channel's last event unless older than `ttlSec`; undefined as well while the store is away. */
  get(app: App, channel: string, ttlSec: number): Maybe<CachedEventData | undefined>;
}
