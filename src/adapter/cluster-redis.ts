/**
 * Several Herald nodes behaving as one server through Redis (README "Scaling" has the
 * guarantees). This file only assembles the parts: the node's membership (redis-node.ts), the
 * broker (Pub/Sub), and presence, occupancy, cache, holds and usage over shared state. The
 * Redis internals stay private to those parts; callers see the Cluster interfaces.
 */
import type { Broker } from './broker.js';
import { RedisBroker } from './broker-redis.js';
import type { EventCache } from './cache.js';
import { RedisCache } from './cache-redis.js';
import type { Cluster, ClusterSink } from './cluster.js';
import type { ClusterHolds } from './holds.js';
import { RedisHolds } from './holds-redis.js';
import type { Occupancy } from './occupancy.js';
import { RedisOccupancy } from './occupancy-redis.js';
import type { Presence } from './presence.js';
import { RedisPresence } from './presence-redis.js';
import { RedisNode, type RedisNodeOptions } from './redis-node.js';
import type { UsageSync } from './usage.js';
import { RedisUsage } from './usage-redis.js';

export type RedisClusterOptions = RedisNodeOptions;

export class RedisCluster implements Cluster {
  readonly broker: Broker;
  readonly presence: Presence;
  readonly occupancy: Occupancy;
  readonly cache: EventCache;
  readonly holds: ClusterHolds;
  readonly usage: UsageSync;
  readonly #node: RedisNode;
  readonly #broker: RedisBroker;

  constructor(options: RedisClusterOptions) {
    const node = (this.#node = new RedisNode(options));
    this.broker = this.#broker = new RedisBroker(node);
    this.presence = new RedisPresence(node, this.#broker);
    this.occupancy = new RedisOccupancy(node);
    this.cache = new RedisCache(node);
    this.holds = new RedisHolds(node);
    this.usage = new RedisUsage(node);
  }

  get nodeId(): string {
    return this.#node.nodeId;
  }

  /** Listens for other nodes first, so nothing they send after this node joins is missed. */
  async start(sink: ClusterSink): Promise<void> {
    await this.#broker.start(sink);
    await this.#node.start(sink);
  }

  async stop(): Promise<void> {
    await this.#node.stop();
    this.#broker.stop();
  }

  /** Both connections count: commands (shared state) and the subscriber (remote frames). */
  healthy(): boolean {
    return this.#node.healthy() && this.#broker.listening();
  }

  nodeCount(): number {
    return this.#node.nodeCount();
  }

  /** Resolves once the node is connected and resynchronised. */
  waitHealthy(timeoutMs?: number): Promise<void> {
    return this.#node.waitHealthy(timeoutMs);
  }

  /** The Redis client id of the command connection (for operators and fault tests). */
  clientId(): Promise<number> {
    return this.#node.clientId();
  }

  /** Drops both connections without any clean-up, as a crash would; other nodes reap this one. */
  abandon(): void {
    this.#node.abandon();
    this.#broker.stop();
  }
}
