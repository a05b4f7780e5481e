/**
 * Where the Redis cluster keeps its state. Every key starts with the hash tag `{keyPrefix}`,
 * so all of them hash to one slot and any script may touch any of them. Internal to the Redis
 * implementation (the *-redis.ts files).
 *
 * Cluster-wide counters change together with the node's own share of them: the node hash
 * `{p}:n:{node}` maps a contribution field to this node's part of the counter, so a dead
 * node's share can be removed exactly once. Fields (␟ = \x1f, which no id or channel holds):
 * `s␟app␟channel` subscriptions, `p␟app␟channel␟user` presence connections, `c␟app`
 * connections, `u␟app␟user` signed-in connections. The Lua function `counterOf`
 * (redis-scripts.ts) maps a field to the same counter as `Counter` does here.
 */

import type { Transition } from './cluster.js';

export const SEP = '\x1f';

/** One cluster-wide counter and this node's share of it. */
export interface Counter {
  /** This node's contribution field. */
  readonly field: string;
  /** The key holding the cluster-wide count. */
  readonly key: string;
  /** The hash member counted in `key`; '' when `key` is a plain counter. */
  readonly member: string;
}

/** A presence member's connection count, with the hash holding each member's user_info. */
export interface MemberCounter extends Counter {
  readonly infoKey: string;
}

export class RedisKeys {
  /** `{keyPrefix}`: the hash tag every key starts with. */
  readonly tag: string;
  /** Live nodes, scored by their last heartbeat (Redis TIME, ms). */
  readonly nodes: string;
  /** The Pub/Sub channel for control messages (terminate, online, offline); every node's subscriber listens to it. */
  readonly control: string;
  /** The sequence number of frames published between nodes (one INCR per publish). */
  readonly publishSeq: string;
  /**
   * Frames published while some live node's subscriber was away (`{channel}\n{message}`,
   * capped, expiring): that node replays what it missed once it is subscribed again.
   */
  readonly replay: string;

  constructor(keyPrefix: string) {
    this.tag = `{${keyPrefix}}`;
    this.nodes = `${this.tag}:nodes`;
    this.control = `${this.tag}:ctl`;
    this.publishSeq = `${this.tag}:pubseq`;
    this.replay = `${this.tag}:replay`;
  }

  /** A node's contribution hash: field → its share. */
  node(nodeId: string): string {
    return `${this.tag}:n:${nodeId}`;
  }

  /** The Pub/Sub channel carrying one Pusher channel's frames between nodes. */
  messages(appId: string, channel: string): string {
    return `${this.tag}:m:${appId}:${channel}`;
  }

  /** The Pub/Sub channel name → [app id, channel] (undefined for other channels). */
  parseMessages(redisChannel: string): [string, string] | undefined {
    const head = `${this.tag}:m:`;
    if (!redisChannel.startsWith(head)) return undefined;
    const rest = redisChannel.slice(head.length);
    const colon = rest.indexOf(':');
    return colon < 0 ? undefined : [rest.slice(0, colon), rest.slice(colon + 1)];
  }

  subscriptions(appId: string, channel: string): Counter {
    return { field: `s${SEP}${appId}${SEP}${channel}`, key: this.#app(appId, 'subs'), member: channel };
  }

  connections(appId: string): Counter {
    return { field: `c${SEP}${appId}`, key: this.#app(appId, 'conns'), member: '' };
  }

  user(appId: string, userId: string): Counter {
    return { field: `u${SEP}${appId}${SEP}${userId}`, key: this.users(appId), member: userId };
  }

  member(appId: string, channel: string, userId: string): MemberCounter {
    return { field: `p${SEP}${appId}${SEP}${channel}${SEP}${userId}`, key: this.presence(appId, channel), member: userId, infoKey: this.infos(appId, channel) };
  }

  /** The contribution-field prefix of a channel's presence members (this node's share). */
  memberFieldPrefix(appId: string, channel: string): string {
    return `p${SEP}${appId}${SEP}${channel}${SEP}`;
  }

  /** channel → subscriptions cluster-wide. */
  subs(appId: string): string {
    return this.#app(appId, 'subs');
  }

  /** user_id → presence connections in the channel. */
  presence(appId: string, channel: string): string {
    return this.#app(appId, `p:${channel}`);
  }

  /** user_id → user_info (JSON) of the channel's members. */
  infos(appId: string, channel: string): string {
    return this.#app(appId, `i:${channel}`);
  }

  /** user_id → signed-in connections. */
  users(appId: string): string {
    return this.#app(appId, 'users');
  }

  cache(appId: string, channel: string): string {
    return this.#app(appId, `cache:${channel}`);
  }

  hold(key: string): string {
    return `${this.tag}:hold:${key}`;
  }

  usage(day: number, appId: string): string {
    return `${this.tag}:usage:${day}:${appId}`;
  }

  #app(appId: string, rest: string): string {
    return `${this.tag}:a:${appId}:${rest}`;
  }
}

/**
 * What a counter change found by resync or reaping means for the core: a contribution field
 * whose cluster-wide count crossed zero (`before` → `after`) as a transition; undefined when it
 * did not cross. `info` gives a member's user_info for member_added.
 */
export function fieldTransition(field: string, before: number, after: number, info: () => unknown): Transition | undefined {
  const parts = field.slice(2).split(SEP);
  const [appId = '', a = ''] = parts;
  const up = before <= 0 && after > 0;
  const down = before > 0 && after <= 0;
  if (!up && !down) return undefined;
  switch (field[0]) {
    case 's':
      return { kind: up ? 'occupied' : 'vacated', appId, channel: a };
    case 'p': {
      const userId = parts.slice(2).join(SEP);
      return up ? { kind: 'member_added', appId, channel: a, userId, info: info() } : { kind: 'member_removed', appId, channel: a, userId };
    }
    case 'u':
      return { kind: up ? 'user_online' : 'user_offline', appId, userId: parts.slice(1).join(SEP) };
  }
  return undefined;
}
