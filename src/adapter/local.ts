/**
 * The single-process adapter: the cluster is this node, so every answer is synchronous and
 * comes from in-memory maps. Needs nothing else running.
 */
import type { App } from '../apps/registry.js';
import type { Adapter, AdapterSink, CachedEventData, ChannelSummary, PresenceJoin } from './adapter.js';

interface Roster {
  /** user_id → connections of that user in the channel. */
  readonly conns: Map<string, number>;
  /** user_id → the latest user_info; handed out read-only as the member list. */
  readonly infos: Map<string, unknown>;
}

interface AppCluster {
  readonly subscriptions: Map<string, number>;
  readonly presence: Map<string, Roster>;
  readonly users: Map<string, number>;
  readonly cache: Map<string, CachedEventData>;
  connections: number;
}

/** Cache-channel entries kept per app; the oldest is evicted past this. */
export const MAX_CACHED_CHANNELS = 10_000;

export class LocalAdapter implements Adapter {
  readonly name = 'local';
  readonly #apps = new Map<string, AppCluster>();
  #sink: AdapterSink | undefined;

  constructor(readonly now: () => number) {}

  async start(sink: AdapterSink): Promise<void> {
    this.#sink = sink;
  }

  async stop(): Promise<void> {}

  healthy(): boolean {
    return true;
  }

  #app(app: App): AppCluster {
    let a = this.#apps.get(app.id);
    if (a === undefined) {
      a = { subscriptions: new Map(), presence: new Map(), users: new Map(), cache: new Map(), connections: 0 };
      this.#apps.set(app.id, a);
    }
    return a;
  }

  publish(): void {
    // One node: the core has already delivered locally.
  }

  watchChannel(): void {}

  unwatchChannel(): void {}

  subscriptionChanged(app: App, channel: string, delta: 1 | -1): number {
    const subs = this.#app(app).subscriptions;
    const n = (subs.get(channel) ?? 0) + delta;
    if (n > 0) subs.set(channel, n);
    else subs.delete(channel);
    return Math.max(0, n);
  }

  presenceJoined(app: App, channel: string, userId: string, info: unknown): PresenceJoin {
    const presence = this.#app(app).presence;
    let roster = presence.get(channel);
    if (roster === undefined) {
      roster = { conns: new Map(), infos: new Map() };
      presence.set(channel, roster);
    }
    const conns = roster.conns.get(userId) ?? 0;
    roster.conns.set(userId, conns + 1);
    roster.infos.set(userId, info);
    return { first: conns === 0, members: roster.infos };
  }

  presenceLeft(app: App, channel: string, userId: string): boolean {
    const presence = this.#app(app).presence;
    const roster = presence.get(channel);
    const conns = roster?.conns.get(userId);
    if (roster === undefined || conns === undefined) return false;
    if (conns > 1) {
      roster.conns.set(userId, conns - 1);
      return false;
    }
    roster.conns.delete(userId);
    roster.infos.delete(userId);
    if (roster.conns.size === 0) presence.delete(channel);
    return true;
  }

  reserveConnection(app: App, limit: number): boolean {
    const a = this.#app(app);
    if (a.connections >= limit) return false;
    a.connections++;
    return true;
  }

  releaseConnection(app: App): void {
    this.#app(app).connections--;
  }

  userChanged(app: App, userId: string, delta: 1 | -1): boolean {
    const users = this.#app(app).users;
    const before = users.get(userId) ?? 0;
    const after = before + delta;
    if (after > 0) users.set(userId, after);
    else users.delete(userId);
    return delta > 0 ? before === 0 : after <= 0 && before > 0;
  }

  onlineUsers(app: App, userIds: readonly string[]): ReadonlySet<string> {
    const users = this.#app(app).users;
    return new Set(userIds.filter((id) => users.has(id)));
  }

  terminateUser(app: App, userId: string): void {
    this.#sink?.terminateUser(app.id, userId);
  }

  holds(): undefined {
    return undefined;
  }

  nodeCount(): number {
    return 1;
  }

  /** One node: its own meter is the whole count. */
  syncUsage(): undefined {
    return undefined;
  }

  cacheSet(app: App, channel: string, entry: CachedEventData): void {
    const cache = this.#app(app).cache;
    cache.delete(channel);
    cache.set(channel, entry);
    if (cache.size > MAX_CACHED_CHANNELS) {
      const oldest = cache.keys().next();
      if (!oldest.done) cache.delete(oldest.value);
    }
  }

  cacheGet(app: App, channel: string, ttlSec: number): CachedEventData | undefined {
    const cache = this.#app(app).cache;
    const entry = cache.get(channel);
    if (entry === undefined) return undefined;
    if (this.now() - entry.storedAtMs >= ttlSec * 1000) {
      cache.delete(channel);
      return undefined;
    }
    return entry;
  }

  channels(app: App): ReadonlyMap<string, ChannelSummary> {
    const a = this.#app(app);
    const out = new Map<string, ChannelSummary>();
    for (const [channel, subscriptions] of a.subscriptions) {
      out.set(channel, { subscriptions, users: a.presence.get(channel)?.conns.size ?? 0 });
    }
    return out;
  }

  channel(app: App, channel: string): ChannelSummary {
    const a = this.#app(app);
    return { subscriptions: a.subscriptions.get(channel) ?? 0, users: a.presence.get(channel)?.conns.size ?? 0 };
  }

  members(app: App, channel: string): readonly string[] {
    return [...(this.#app(app).presence.get(channel)?.conns.keys() ?? [])];
  }
}
