/**
 * Local channel membership for one app: subscriber counts, presence rosters keyed by user_id,
 * signed-in users, watchers and the cache-channel store. Plain data; the rules that change it
 * live in connection/ and channels/presence.ts.
 */
import type { Connection } from '../connection/connection.js';

export interface Member {
  readonly userId: string;
  readonly info: unknown;
  /** Local connections of this user in the channel; the member leaves when it reaches 0. */
  conns: number;
}

export class ChannelState {
  subscribers = 0;
  members: Map<string, Member> | undefined = undefined;
  /** subscription_count throttling (§2.2): when the last count went out, and a pending send. */
  countSentAtMs = 0;
  countTimer: NodeJS.Timeout | undefined = undefined;
}

export interface CachedEvent {
  readonly event: string;
  readonly data: string;
  readonly storedAtMs: number;
}

/** Cache-channel entries kept per app; the oldest is evicted past this. */
export const MAX_CACHED_CHANNELS = 10_000;

export class AppState {
  readonly channels = new Map<string, ChannelState>();
  readonly users = new Map<string, Set<Connection>>();
  readonly watchers = new Map<string, Set<Connection>>();
  readonly cache = new Map<string, CachedEvent>();
  connections = 0;

  channel(name: string): ChannelState {
    let ch = this.channels.get(name);
    if (ch === undefined) {
      ch = new ChannelState();
      this.channels.set(name, ch);
    }
    return ch;
  }

  storeCached(channel: string, entry: CachedEvent): void {
    this.cache.delete(channel);
    this.cache.set(channel, entry);
    if (this.cache.size > MAX_CACHED_CHANNELS) {
      const oldest = this.cache.keys().next();
      if (!oldest.done) this.cache.delete(oldest.value);
    }
  }

  cached(channel: string, nowMs: number, ttlSec: number): CachedEvent | undefined {
    const entry = this.cache.get(channel);
    if (entry === undefined) return undefined;
    if (nowMs - entry.storedAtMs >= ttlSec * 1000) {
      this.cache.delete(channel);
      return undefined;
    }
    return entry;
  }
}

export function addToSetMap<K, V>(map: Map<K, Set<V>>, key: K, value: V): boolean {
  let set = map.get(key);
  if (set === undefined) {
    set = new Set();
    map.set(key, set);
  }
  const before = set.size;
  set.add(value);
  return before === 0 && set.size === 1;
}

/** Removes and reports whether the key's set became empty. */
export function removeFromSetMap<K, V>(map: Map<K, Set<V>>, key: K, value: V): boolean {
  const set = map.get(key);
  if (set === undefined || !set.delete(value)) return false;
  if (set.size === 0) {
    map.delete(key);
    return true;
  }
  return false;
}
