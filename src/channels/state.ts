/**
 * This node's channel state for one app: local subscriber counts, signed-in users and
 * watchers. Cluster-wide facts (counts, presence rosters, cache) live behind the adapter. Plain data; the rules that change it
 * live in connection/ and channels/presence.ts.
 */
import type { Maybe } from '../maybe.js';
import type { Connection } from '../connection/connection.js';

export class ChannelState {
  /** Local subscribers on this node. */
  subscribers = 0;
  /** Resolves once other nodes' frames for this channel reach this node (Redis subscribe). */
  watching: Maybe<void> = undefined;
  /** The newest cluster-wide count waiting for a throttled subscription_count. */
  latestCount = 0;
  /** subscription_count throttling (§2.2): when the last count went out, and a pending send. */
  countSentAtMs = 0;
  cancelCount: (() => void) | undefined = undefined;
}

export class AppState {
  readonly channels = new Map<string, ChannelState>();
  readonly users = new Map<string, Set<Connection>>();
  readonly watchers = new Map<string, Set<Connection>>();
  connections = 0;

  channel(name: string): ChannelState {
    let ch = this.channels.get(name);
    if (ch === undefined) {
      ch = new ChannelState();
      this.channels.set(name, ch);
    }
    return ch;
  }
}

/** Every app's state on this node, made on first use. One per server, shared by the core and the local cluster. */
export class ChannelStates {
  readonly #byApp = new Map<string, AppState>();

  state(appId: string): AppState {
    let s = this.#byApp.get(appId);
    if (s === undefined) {
      s = new AppState();
      this.#byApp.set(appId, s);
    }
    return s;
  }
}

export function addToSetMap<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  let set = map.get(key);
  if (set === undefined) {
    set = new Set();
    map.set(key, set);
  }
  set.add(value);
}

/** Removes `value`, dropping the key when its set becomes empty. */
export function removeFromSetMap<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  if (set !== undefined && set.delete(value) && set.size === 0) map.delete(key);
}
