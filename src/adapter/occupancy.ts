/**
 * Occupancy: how full channels and apps are, cluster-wide — subscriptions per channel (for
 * subscription_count, channel_occupied/vacated and the REST channel queries) and connections
 * per app (the connection quota, limits.maxConnections).
 *
 * Contract with the caller: the core first changes its own state (channels/state.ts), then
 * tells occupancy, once per local subscription and per connection.
 */
import type { App } from '../apps/registry.js';
import type { Maybe } from '../maybe.js';

export interface ChannelSummary {
  readonly subscriptions: number;
  /** Presence members (distinct user ids); 0 on other channels. */
  readonly users: number;
}

export interface Occupancy {
  /** A local subscription was added (+1) or removed (-1); returns the cluster-wide count after. */
  subscriptionChanged(app: App, channel: string, delta: 1 | -1): Maybe<number>;
  /** One channel's counts; rejects with ClusterUnavailable when they cannot be known. */
  channel(app: App, channel: string): Maybe<ChannelSummary>;
  /** Occupied channels cluster-wide with their counts; rejects with ClusterUnavailable as `channel`. */
  channels(app: App): Maybe<ReadonlyMap<string, ChannelSummary>>;
  /**
   * Reserves a connection slot for the app; false when the app is at `limit` cluster-wide. A
   * granted slot is either opened (the core counts the connection) or given back with
   * releaseConnection; a synchronous grant is opened or given back before the caller yields.
   */
  reserveConnection(app: App, limit: number): Maybe<boolean>;
  /** Gives a slot back: its connection closed (the core has uncounted it), or it never opened. */
  releaseConnection(app: App): void;
}
