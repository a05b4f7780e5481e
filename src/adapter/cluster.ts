/**
 * The cluster seam (design rule 7): what one Herald node needs from "the cluster", cut into
 * small parts that are each about one thing. The core keeps each node's own state (its
 * sockets, topics and local counts, channels/state.ts) and tells the parts about local
 * changes; they answer with cluster-wide facts. Two implementations: cluster-local.ts (the
 * cluster is this node; synchronous answers from the node's own state) and cluster-redis.ts
 * (several nodes sharing state in Redis; answers may be promises).
 *
 * A part that has nothing to do on one node is absent there rather than a branch in callers.
 */
import type { Broker, BrokerSink } from './broker.js';
import type { EventCache } from './cache.js';
import type { ClusterHolds } from './holds.js';
import type { Occupancy } from './occupancy.js';
import type { Presence } from './presence.js';
import type { UsageSync } from './usage.js';

/** A cluster-wide query cannot be answered right now (Redis unreachable): REST answers 503. */
export class ClusterUnavailable extends Error {
  constructor(detail: string) {
    super(`Cluster state is unavailable right now (${detail}); retry shortly`);
    this.name = 'ClusterUnavailable';
  }
}

export type Transition =
  | { kind: 'occupied' | 'vacated'; appId: string; channel: string }
  | { kind: 'member_added'; appId: string; channel: string; userId: string; info: unknown }
  | { kind: 'member_removed'; appId: string; channel: string; userId: string }
  | { kind: 'user_online' | 'user_offline'; appId: string; userId: string };

/** Everything the cluster hands to this node's core (Core.sink()). */
export interface ClusterSink extends BrokerSink {
  /** A signed-in user came online or went offline on another node (watchlists). */
  userPresence(appId: string, userId: string, online: boolean): void;
  /**
   * A cluster-level transition found outside a local call (a dead node's state removed, a
   * resync after Redis came back): member_removed / vacated and the like.
   */
  transition(t: Transition): void;
}

export interface Cluster {
  readonly broker: Broker;
  readonly occupancy: Occupancy;
  readonly presence: Presence;
  readonly cache: EventCache;
  /** Absent on one node, where the node's own delay line decides. */
  readonly holds: ClusterHolds | undefined;
  /** Absent on one node, whose own meter is the whole count. */
  readonly usage: UsageSync | undefined;

  /** Joins the cluster; resolves once the node's state is in it (or Redis is found away). */
  start(sink: ClusterSink): Promise<void>;
  /** Leaves cleanly: this node's share of the cluster-wide state is removed at once. */
  stop(): Promise<void>;
  /** False while cross-node work is impossible (Redis unreachable). */
  healthy(): boolean;
  /** Live nodes in the cluster (1 on one node); per-node shares of cluster-wide rate limits use it. */
  nodeCount(): number;
}
