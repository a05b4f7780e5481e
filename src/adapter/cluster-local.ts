/**
 * The one-node cluster: every answer is synchronous and comes from this node — counts from the
 * core's own state (NodeCounts), presence rosters and the cache from small in-memory maps.
 * Needs nothing else running. Webhook holds and usage sync are absent: nobody to share with.
 */
import { LocalBroker } from './broker-local.js';
import { LocalCache } from './cache-local.js';
import type { Cluster, ClusterSink } from './cluster.js';
import type { NodeCounts } from './node-counts.js';
import { LocalOccupancy } from './occupancy-local.js';
import { LocalPresence } from './presence-local.js';

export class LocalCluster implements Cluster {
  readonly broker = new LocalBroker();
  readonly presence: LocalPresence;
  readonly occupancy: LocalOccupancy;
  readonly cache: LocalCache;
  readonly holds = undefined;
  readonly usage = undefined;

  constructor(counts: NodeCounts, now: () => number) {
    this.presence = new LocalPresence(counts);
    this.occupancy = new LocalOccupancy(counts, (app, channel) => this.presence.memberCount(app, channel));
    this.cache = new LocalCache(now);
  }

  /** The sink is in place as soon as this is called, before the promise settles. */
  async start(sink: ClusterSink): Promise<void> {
    this.broker.start(sink);
  }

  async stop(): Promise<void> {}

  healthy(): boolean {
    return true;
  }

  nodeCount(): number {
    return 1;
  }
}
