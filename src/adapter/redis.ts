/**
 * The Redis adapter: several Herald nodes behave as one server.
 *
 * - Fan-out: a frame published on any node goes to Redis channel `{p}:m:{app}:{channel}`;
 *   only nodes with a local subscriber of that channel SUBSCRIBE to it, so adding nodes adds
 *   capacity. Each node delivers its own publishes locally and ignores their echo.
 * - State: cluster-wide counters (subscriptions, presence connections per user, connections,
 *   signed-in users) change atomically together with the node's contribution hash; a node that
 *   stops heartbeating is reaped exactly once by another node, which announces the transitions
 *   (member_removed, vacated).
 * - Failure: commands fail fast while Redis is away (no offline queue); the node keeps serving
 *   its local clients from its local mirror, reports unhealthy, and on reconnect resynchronises
 *   its whole contribution in one script.
 */
import type { App } from '../apps/registry.js';
import { ClusterUnavailable, type Adapter, type AdapterSink, type CachedEventData, type ChannelSummary, type ClusterHolds, type Maybe, type PresenceJoin } from './adapter.js';
import { parseInfo, RedisNode, type RedisNodeOptions } from './redis-node.js';
import { ADMIT, SEP, USAGE } from './redis-scripts.js';

export type RedisAdapterOptions = RedisNodeOptions;

export class RedisAdapter implements Adapter {
  readonly name = 'redis';
  readonly #node: RedisNode;

  constructor(options: RedisAdapterOptions) {
    this.#node = new RedisNode(options);
  }

  get nodeId(): string {
    return this.#node.nodeId;
  }

  start(sink: AdapterSink): Promise<void> {
    return this.#node.start(sink);
  }

  stop(): Promise<void> {
    return this.#node.stop();
  }

  healthy(): boolean {
    return this.#node.healthy();
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
  }

  publish(app: App, channel: string, frame: string, exceptSocketId?: string): void {
    this.#node.publish(app.id, channel, frame, exceptSocketId);
  }

  watchChannel(app: App, channel: string): Maybe<void> {
    return this.#node.watch(app.id, channel);
  }

  unwatchChannel(app: App, channel: string): void {
    this.#node.unwatch(app.id, channel);
  }

  // ── counters ─────────────────────────────────────────────────────────────────────────

  subscriptionChanged(app: App, channel: string, delta: 1 | -1): Maybe<number> {
    const field = `s${SEP}${app.id}${SEP}${channel}`;
    const local = this.#node.mirror(field, delta);
    return this.#node.apply(field, delta, '', '', (r) => Math.max(0, Number(r[0][0])), () => local);
  }

  presenceJoined(app: App, channel: string, userId: string, info: unknown): Maybe<PresenceJoin> {
    const field = `p${SEP}${app.id}${SEP}${channel}${SEP}${userId}`;
    const extra = JSON.stringify(info ?? null);
    const local = this.#node.mirror(field, 1, extra);
    const rosterKey = `${this.#node.K}:a:${app.id}:i:${channel}`;
    return this.#node.apply(
      field,
      1,
      extra,
      rosterKey,
      (r) => {
        const members = new Map<string, unknown>();
        const flat = r[1];
        for (let i = 0; i < flat.length; i += 2) members.set(String(flat[i]), parseInfo(String(flat[i + 1])));
        members.set(userId, info);
        return { first: Number(r[0][0]) === 1, members };
      },
      () => ({ first: local === 1, members: this.#localMembers(app.id, channel) }),
    );
  }

  #localMembers(appId: string, channel: string): Map<string, unknown> {
    const prefix = `p${SEP}${appId}${SEP}${channel}${SEP}`;
    const out = new Map<string, unknown>();
    for (const [field, c] of this.#node.contributions(prefix)) out.set(field.slice(prefix.length), parseInfo(c.extra));
    return out;
  }

  presenceLeft(app: App, channel: string, userId: string): Maybe<boolean> {
    const field = `p${SEP}${app.id}${SEP}${channel}${SEP}${userId}`;
    const local = this.#node.mirror(field, -1);
    return this.#node.apply(field, -1, '', '', (r) => Number(r[0][0]) <= 0, () => local <= 0);
  }

  reserveConnection(app: App, limit: number): Maybe<boolean> {
    const field = `c${SEP}${app.id}`;
    if (!this.#node.healthy()) {
      const local = this.#node.contribution(field)?.n ?? 0;
      if (local >= limit) return false;
      this.#node.mirror(field, 1);
      return true;
    }
    this.#node.mirror(field, 1);
    return (this.#node.cmd.eval(ADMIT, 0, this.#node.K, this.#node.nodeId, app.id, String(limit)) as Promise<number>).then(
      (n) => {
        if (Number(n) >= 0) return true;
        this.#node.mirror(field, -1);
        return false;
      },
      (err: unknown) => {
        this.#node.failed(err as Error);
        return true;
      },
    );
  }

  releaseConnection(app: App): void {
    const field = `c${SEP}${app.id}`;
    this.#node.mirror(field, -1);
    void this.#node.apply(field, -1, '', '', () => undefined, () => undefined);
  }

  userChanged(app: App, userId: string, delta: 1 | -1): Maybe<boolean> {
    const field = `u${SEP}${app.id}${SEP}${userId}`;
    const local = this.#node.mirror(field, delta);
    const changed = (n: number): boolean => (delta > 0 ? n === 1 : n <= 0);
    const result = this.#node.apply(field, delta, '', '', (r) => changed(Number(r[0][0])), () => changed(local));
    const tell = (didChange: boolean): boolean => {
      if (didChange) this.#node.control(delta > 0 ? 'online' : 'offline', app.id, userId);
      return didChange;
    };
    return result instanceof Promise ? result.then(tell) : tell(result);
  }

  onlineUsers(app: App, userIds: readonly string[]): Maybe<ReadonlySet<string>> {
    const local = (): Set<string> => new Set(userIds.filter((id) => this.#node.contribution(`u${SEP}${app.id}${SEP}${id}`) !== undefined));
    if (!this.#node.healthy() || userIds.length === 0) return local();
    return this.#node.cmd.hmget(`${this.#node.K}:a:${app.id}:users`, ...userIds).then(
      (counts) => new Set(userIds.filter((_, i) => Number(counts[i] ?? 0) > 0)),
      (err: unknown) => {
        this.#node.failed(err as Error);
        return local();
      },
    );
  }

  terminateUser(app: App, userId: string): void {
    this.#node.sink?.terminateUser(app.id, userId);
    this.#node.control('terminate', app.id, userId);
  }

  holds(): ClusterHolds {
    return {
      mark: (key, ttlMs) => {
        if (this.#node.healthy()) this.#node.cmd.set(`${this.#node.K}:hold:${key}`, '1', 'PX', ttlMs).catch((err: unknown) => this.#node.failed(err as Error));
      },
      claim: async (key) => {
        if (!this.#node.healthy()) throw new ClusterUnavailable('Redis is unreachable');
        return (await this.#node.cmd.del(`${this.#node.K}:hold:${key}`)) === 1;
      },
    };
  }

  nodeCount(): number {
    return this.#node.nodeCount();
  }

  syncUsage(day: number, deltas: ReadonlyMap<string, number>): Promise<ReadonlyMap<string, number>> | undefined {
    if (!this.#node.healthy() || deltas.size === 0) return undefined;
    const args: string[] = [this.#node.K, String(day), String(2 * 86_400)];
    for (const [appId, n] of deltas) args.push(appId, String(n));
    return (this.#node.cmd.eval(USAGE, 0, ...args) as Promise<number[]>).then((totals) => {
      const out = new Map<string, number>();
      [...deltas.keys()].forEach((appId, i) => out.set(appId, Number(totals[i] ?? 0)));
      return out;
    });
  }

  // ── cache channels ───────────────────────────────────────────────────────────────────

  cacheSet(app: App, channel: string, entry: CachedEventData, ttlSec: number): void {
    if (!this.#node.healthy()) return;
    this.#node.cmd
      .set(`${this.#node.K}:a:${app.id}:cache:${channel}`, JSON.stringify(entry), 'PX', ttlSec * 1000)
      .catch((err: unknown) => this.#node.failed(err as Error));
  }

  cacheGet(app: App, channel: string): Maybe<CachedEventData | undefined> {
    if (!this.#node.healthy()) return undefined;
    return this.#node.cmd.get(`${this.#node.K}:a:${app.id}:cache:${channel}`).then(
      (raw) => (raw === null ? undefined : (JSON.parse(raw) as CachedEventData)),
      (err: unknown) => {
        this.#node.failed(err as Error);
        return undefined;
      },
    );
  }

  // ── queries ──────────────────────────────────────────────────────────────────────────

  /** Runs a cluster-wide query; while Redis is away it fails with ClusterUnavailable (REST 503). */
  async #query<T>(run: () => Promise<T>): Promise<T> {
    if (!this.#node.healthy()) throw new ClusterUnavailable('Redis is unreachable');
    try {
      return await run();
    } catch (err) {
      this.#node.failed(err as Error);
      throw new ClusterUnavailable((err as Error).message);
    }
  }

  channels(app: App): Promise<ReadonlyMap<string, ChannelSummary>> {
    return this.#query(() => this.#channels(app));
  }

  async #channels(app: App): Promise<ReadonlyMap<string, ChannelSummary>> {
    const subs = await this.#node.cmd.hgetall(`${this.#node.K}:a:${app.id}:subs`);
    const names = Object.keys(subs).filter((ch) => Number(subs[ch]) > 0);
    const presence = names.filter((ch) => ch.startsWith('presence-'));
    const pipe = this.#node.cmd.pipeline();
    for (const ch of presence) pipe.hlen(`${this.#node.K}:a:${app.id}:p:${ch}`);
    const lens = presence.length > 0 ? ((await pipe.exec()) ?? []) : [];
    const users = new Map(presence.map((ch, i) => [ch, Number(lens[i]?.[1] ?? 0)]));
    return new Map(names.map((ch) => [ch, { subscriptions: Number(subs[ch]), users: users.get(ch) ?? 0 }]));
  }

  channel(app: App, channel: string): Promise<ChannelSummary> {
    return this.#query(() => this.#channel(app, channel));
  }

  async #channel(app: App, channel: string): Promise<ChannelSummary> {
    const [subs, users] = await Promise.all([
      this.#node.cmd.hget(`${this.#node.K}:a:${app.id}:subs`, channel),
      this.#node.cmd.hlen(`${this.#node.K}:a:${app.id}:p:${channel}`),
    ]);
    return { subscriptions: Math.max(0, Number(subs ?? 0)), users };
  }

  members(app: App, channel: string): Promise<readonly string[]> {
    return this.#query(() => this.#node.cmd.hkeys(`${this.#node.K}:a:${app.id}:p:${channel}`));
  }
}
