/**
 * Presence across nodes. Rosters are cluster-wide hashes (user_id → connections, user_id →
 * user_info) changed atomically with this node's share; a user on two nodes is one member.
 * Signed-in users are counted the same way, and the node where a user came online or went
 * offline tells the others (watchlists). While Redis is away, answers come from this node's
 * own shares.
 */
import type { App } from '../apps/registry.js';
import { mapMaybe, type Maybe } from '../maybe.js';
import type { Presence, PresenceJoin } from './presence.js';
import type { RedisBroker } from './broker-redis.js';
import { parseInfo, type RedisNode } from './redis-node.js';

export class RedisPresence implements Presence {
  readonly #node: RedisNode;
  readonly #broker: RedisBroker;

  constructor(node: RedisNode, broker: RedisBroker) {
    this.#node = node;
    this.#broker = broker;
  }

  joined(app: App, channel: string, userId: string, info: unknown): Maybe<PresenceJoin> {
    const c = this.#node.keys.member(app.id, channel, userId);
    return mapMaybe(this.#node.changeMember(c, 1, JSON.stringify(info ?? null), true), ({ count, roster }) => {
      const members = roster === undefined ? this.#localMembers(app, channel) : rosterMap(roster);
      members.set(userId, info);
      return { first: count === 1, members };
    });
  }

  left(app: App, channel: string, userId: string): Maybe<boolean> {
    const c = this.#node.keys.member(app.id, channel, userId);
    return mapMaybe(this.#node.changeMember(c, -1, '', false), ({ count }) => count <= 0);
  }

  members(app: App, channel: string): Promise<readonly string[]> {
    return this.#node.query(() => this.#node.cmd.hkeys(this.#node.keys.presence(app.id, channel)));
  }

  userChanged(app: App, userId: string, delta: 1 | -1): Maybe<boolean> {
    return mapMaybe(this.#node.change(this.#node.keys.user(app.id, userId), delta), (n) => {
      const changed = delta > 0 ? n === 1 : n <= 0;
      if (changed) this.#broker.announce(delta > 0 ? 'online' : 'offline', app.id, userId);
      return changed;
    });
  }

  onlineUsers(app: App, userIds: readonly string[]): Maybe<ReadonlySet<string>> {
    const node = this.#node;
    const local = (): Set<string> => new Set(userIds.filter((id) => node.share(node.keys.user(app.id, id).field) > 0));
    if (!node.healthy() || userIds.length === 0) return local();
    return node.cmd.hmget(node.keys.users(app.id), ...userIds).then(
      (counts) => new Set(userIds.filter((_, i) => Number(counts[i] ?? 0) > 0)),
      (err: unknown) => {
        node.failed(err as Error);
        return local();
      },
    );
  }

  /** The members this node itself contributes (the roster while Redis is away). */
  #localMembers(app: App, channel: string): Map<string, unknown> {
    const prefix = this.#node.keys.memberFieldPrefix(app.id, channel);
    const out = new Map<string, unknown>();
    for (const [field, extra] of this.#node.shares(prefix)) out.set(field.slice(prefix.length), parseInfo(extra));
    return out;
  }
}

/** A flat HGETALL (user_id, user_info JSON, …) as user_id → user_info. */
function rosterMap(flat: readonly string[]): Map<string, unknown> {
  const members = new Map<string, unknown>();
  for (let i = 0; i < flat.length; i += 2) members.set(String(flat[i]), parseInfo(String(flat[i + 1])));
  return members;
}
