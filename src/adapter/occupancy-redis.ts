/**
 * Occupancy across nodes: subscriptions per channel and connections per app are cluster-wide
 * counters changed atomically with this node's share. The connection quota is checked and
 * taken in one script; while Redis is away each node admits up to the limit on its own.
 * Queries read the shared counters, so every node answers the same; while Redis is away they
 * fail with ClusterUnavailable (REST 503).
 */
import type { App } from '../apps/registry.js';
import { mapMaybe, type Maybe } from '../maybe.js';
import type { ChannelSummary, Occupancy } from './occupancy.js';
import type { RedisNode } from './redis-node.js';

export class RedisOccupancy implements Occupancy {
  readonly #node: RedisNode;

  constructor(node: RedisNode) {
    this.#node = node;
  }

  subscriptionChanged(app: App, channel: string, delta: 1 | -1): Maybe<number> {
    return mapMaybe(this.#node.change(this.#node.keys.subscriptions(app.id, channel), delta), (n) => Math.max(0, n));
  }

  reserveConnection(app: App, limit: number): Maybe<boolean> {
    return this.#node.admit(this.#node.keys.connections(app.id), limit);
  }

  releaseConnection(app: App): void {
    void this.#node.change(this.#node.keys.connections(app.id), -1);
  }

  channel(app: App, channel: string): Promise<ChannelSummary> {
    const { cmd, keys } = this.#node;
    return this.#node.query(async () => {
      const [subs, users] = await Promise.all([cmd.hget(keys.subs(app.id), channel), cmd.hlen(keys.presence(app.id, channel))]);
      return { subscriptions: Math.max(0, Number(subs ?? 0)), users };
    });
  }

  channels(app: App): Promise<ReadonlyMap<string, ChannelSummary>> {
    const { cmd, keys } = this.#node;
    return this.#node.query(async () => {
      const subs = await cmd.hgetall(keys.subs(app.id));
      const names = Object.keys(subs).filter((ch) => Number(subs[ch]) > 0);
      const presence = names.filter((ch) => ch.startsWith('presence-'));
      const pipe = cmd.pipeline();
      for (const ch of presence) pipe.hlen(keys.presence(app.id, ch));
      const lens = presence.length > 0 ? ((await pipe.exec()) ?? []) : [];
      const users = new Map(presence.map((ch, i) => [ch, Number(lens[i]?.[1] ?? 0)]));
      return new Map(names.map((ch) => [ch, { subscriptions: Number(subs[ch]), users: users.get(ch) ?? 0 }]));
    });
  }
}
