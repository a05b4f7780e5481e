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
import { Redis } from 'ioredis';
import { customAlphabet } from 'nanoid';
import type { App } from '../apps/registry.js';
import type { Logger } from '../log.js';
import { ClusterUnavailable, type Adapter, type ClusterHolds, type AdapterSink, type CachedEventData, type ChannelSummary, type Maybe, type PresenceJoin, type Transition } from './adapter.js';
import { ADMIT, APPLY, HEARTBEAT, REAP, RESYNC, SEP, USAGE } from './redis-scripts.js';

export interface RedisAdapterOptions {
  readonly url: string;
  readonly keyPrefix: string;
  readonly heartbeatMs: number;
  /** A node silent this long is reaped (its members removed, its connections uncounted). */
  readonly deadAfterMs: number;
  readonly logger: Logger;
  readonly nodeId?: string;
}

const nodeIdGen = customAlphabet('0123456789abcdefghijklmnopqrstuvwxyz', 12);

interface Contribution {
  n: number;
  extra: string;
}

type ScriptResult = [number[], string[]];

export class RedisAdapter implements Adapter {
  readonly name = 'redis';
  readonly nodeId: string;
  readonly #K: string;
  readonly #cmd: Redis;
  readonly #sub: Redis;
  /** This node's share of the cluster counters, kept locally so it survives a Redis outage. */
  readonly #mine = new Map<string, Contribution>();
  #sink: AdapterSink | undefined;
  #healthy = false;
  #resyncing: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #outageLogged = false;
  /** Live nodes as of the last heartbeat (this one included). */
  #nodes = 1;
  /** Bumped on every mirror change, so a resync can tell that it raced with local changes. */
  #version = 0;

  constructor(readonly options: RedisAdapterOptions) {
    this.nodeId = options.nodeId ?? nodeIdGen();
    this.#K = `{${options.keyPrefix}}`;
    const common = { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: (n: number) => Math.min(100 * n, 2000) };
    this.#cmd = new Redis(options.url, { ...common, enableOfflineQueue: false });
    this.#sub = new Redis(options.url, { ...common, enableOfflineQueue: true, maxRetriesPerRequest: null });
  }

  get #log(): Logger {
    return this.options.logger;
  }

  async start(sink: AdapterSink): Promise<void> {
    this.#sink = sink;
    this.#cmd.on('ready', () => this.#onReady());
    for (const ev of ['close', 'end'] as const) this.#cmd.on(ev, () => this.#onLost());
    this.#cmd.on('error', (err: Error) => this.#onLost(err));
    this.#sub.on('error', (err: Error) => this.#log.debug({ err: err.message }, 'redis subscriber error'));
    this.#sub.on('message', (channel: string, message: string) => this.#onMessage(channel, message));
    await this.#sub.subscribe(`${this.#K}:ctl`).catch((err: unknown) => this.#log.warn({ err }, 'redis: control channel subscribe deferred'));
    await this.#cmd.connect().catch((err: unknown) => this.#onLost(err as Error));
    await this.#resyncing;
    this.#timer = setInterval(() => void this.#heartbeat(), this.options.heartbeatMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    if (this.#healthy) {
      // Leave cleanly: remove this node's contribution now rather than after deadAfterMs.
      this.#mine.clear();
      await this.#resync().catch((err: unknown) => this.#log.warn({ err }, 'redis: final resync failed'));
      await this.#cmd.zrem(`${this.#K}:nodes`, this.nodeId).catch((err: unknown) => this.#log.warn({ err }, "redis: could not leave the node list; it will be reaped"));
    }
    this.#cmd.disconnect();
    this.#sub.disconnect();
  }

  healthy(): boolean {
    return this.#healthy;
  }

  /** Resolves once the node is connected and resynchronised. */
  async waitHealthy(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#healthy) {
      if (Date.now() > deadline) throw new Error('redis adapter did not become healthy');
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** The Redis client id of the command connection (for operators and fault tests). */
  async clientId(): Promise<number> {
    return Number(await this.#cmd.client('ID'));
  }

  /** Drops both connections without any clean-up, as a crash would; other nodes reap this one. */
  abandon(): void {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#cmd.disconnect();
    this.#sub.disconnect();
  }

  // ── connection state ────────────────────────────────────────────────────────────────

  #onReady(): void {
    if (this.#stopped) return;
    this.#resyncing = this.#resync().then(
      () => {
        this.#healthy = true;
        if (this.#outageLogged) this.#log.info({ node: this.nodeId }, 'redis: reconnected and resynchronised');
        this.#outageLogged = false;
      },
      (err: unknown) => this.#onLost(err as Error),
    );
  }

  #onLost(err?: Error): void {
    this.#healthy = false;
    if (!this.#outageLogged && !this.#stopped) {
      this.#outageLogged = true;
      this.#log.error({ node: this.nodeId, err: err?.message }, 'redis unreachable: serving local clients only until it returns');
    }
  }

  /** Resynchronises until no local change raced with the last pass. */
  async #resync(): Promise<void> {
    let seen: number;
    do {
      seen = this.#version;
      await this.#resyncOnce();
    } while (seen !== this.#version);
  }

  /** Sends this node's whole local state; announces whatever changed cluster-wide as a result. */
  async #resyncOnce(): Promise<void> {
    const args: string[] = [this.#K, this.nodeId];
    for (const [field, c] of this.#mine) args.push(field, String(c.n), c.extra);
    const flat = (await this.#cmd.eval(RESYNC, 0, ...args)) as Array<string | number>;
    for (let i = 0; i < flat.length; i += 3) {
      const field = String(flat[i]);
      const newv = Number(flat[i + 1]);
      const delta = Number(flat[i + 2]);
      this.#announce(field, newv - delta, newv);
    }
  }

  async #heartbeat(): Promise<void> {
    if (!this.#healthy) return;
    try {
      const [live, dead] = (await this.#cmd.eval(HEARTBEAT, 0, this.#K, this.nodeId, String(this.options.deadAfterMs))) as [number, string[]];
      this.#nodes = Math.max(1, Number(live));
      for (const node of dead) {
        if (node === this.nodeId) continue;
        const flat = (await this.#cmd.eval(REAP, 0, this.#K, node, String(this.options.deadAfterMs))) as Array<string | number>;
        if (flat.length > 0) this.#log.warn({ node: this.nodeId, dead: node, changes: flat.length / 2 }, 'redis: reaped a silent node');
        for (let i = 0; i < flat.length; i += 2) {
          const newv = Number(flat[i + 1]);
          const field = String(flat[i]);
          this.#announce(field, Number.POSITIVE_INFINITY, newv);
        }
      }
    } catch (err) {
      this.#onLost(err as Error);
    }
  }

  /** Turns a counter change found by resync or reaping into a transition for the core. */
  #announce(field: string, before: number, after: number): void {
    const parts = field.slice(2).split(SEP);
    const [appId = '', a = ''] = parts;
    const up = before <= 0 && after > 0;
    const down = before > 0 && after <= 0;
    if (!up && !down) return;
    let t: Transition | undefined;
    switch (field[0]) {
      case 's':
        t = { kind: up ? 'occupied' : 'vacated', appId, channel: a };
        break;
      case 'p': {
        const userId = parts.slice(2).join(SEP);
        t = up
          ? { kind: 'member_added', appId, channel: a, userId, info: parseInfo(this.#mine.get(field)?.extra) }
          : { kind: 'member_removed', appId, channel: a, userId };
        break;
      }
      case 'u':
        t = { kind: up ? 'user_online' : 'user_offline', appId, userId: parts.slice(1).join(SEP) };
        break;
    }
    if (t !== undefined) this.#sink?.transition(t);
  }

  // ── messages ─────────────────────────────────────────────────────────────────────────

  #channelKey(appId: string, channel: string): string {
    return `${this.#K}:m:${appId}:${channel}`;
  }

  #onMessage(redisChannel: string, message: string): void {
    const sink = this.#sink;
    if (sink === undefined) return;
    if (redisChannel === `${this.#K}:ctl`) return this.#onControl(message);
    const rest = redisChannel.slice(this.#K.length + 3);
    const colon = rest.indexOf(':');
    const nl1 = message.indexOf('\n');
    const nl2 = message.indexOf('\n', nl1 + 1);
    if (colon < 0 || nl1 < 0 || nl2 < 0) return;
    if (message.slice(0, nl1) === this.nodeId) return;
    const except = message.slice(nl1 + 1, nl2);
    sink.deliver(rest.slice(0, colon), rest.slice(colon + 1), message.slice(nl2 + 1), except === '' ? undefined : except);
  }

  #onControl(message: string): void {
    let m: { origin?: string; type?: string; app?: string; user?: string };
    try {
      m = JSON.parse(message) as typeof m;
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, 'redis: unreadable control message');
      return;
    }
    if (m.origin === this.nodeId || typeof m.app !== 'string' || typeof m.user !== 'string') return;
    if (m.type === 'terminate') this.#sink?.terminateUser(m.app, m.user);
    else if (m.type === 'online' || m.type === 'offline') this.#sink?.userPresence(m.app, m.user, m.type === 'online');
  }

  #control(type: string, appId: string, userId: string): void {
    if (!this.#healthy) return;
    const msg = JSON.stringify({ origin: this.nodeId, type, app: appId, user: userId });
    this.#cmd.publish(`${this.#K}:ctl`, msg).catch((err: unknown) => this.#onLost(err as Error));
  }

  publish(app: App, channel: string, frame: string, exceptSocketId?: string): void {
    if (!this.#healthy) return;
    const msg = `${this.nodeId}\n${exceptSocketId ?? ''}\n${frame}`;
    this.#cmd.publish(this.#channelKey(app.id, channel), msg).catch((err: unknown) => this.#onLost(err as Error));
  }

  watchChannel(app: App, channel: string): Maybe<void> {
    const done = this.#sub.subscribe(this.#channelKey(app.id, channel)).then(
      () => undefined,
      (err: unknown) => this.#log.warn({ err, channel }, 'redis: subscribe failed; remote events for this channel resume on reconnect'),
    );
    return this.#healthy ? done : undefined;
  }

  unwatchChannel(app: App, channel: string): void {
    this.#sub.unsubscribe(this.#channelKey(app.id, channel)).catch((err: unknown) => this.#log.debug({ err, channel }, 'redis: unsubscribe failed'));
  }

  // ── counters ─────────────────────────────────────────────────────────────────────────

  /** Updates the local mirror; returns the node-local value after. */
  #mirror(field: string, delta: number, extra = ''): number {
    this.#version++;
    const c = this.#mine.get(field);
    const n = (c?.n ?? 0) + delta;
    if (n > 0) this.#mine.set(field, { n, extra: extra || c?.extra || '' });
    else this.#mine.delete(field);
    return n;
  }

  /**
   * Applies one delta cluster-wide. While Redis is away the answer comes from `fallback`
   * (local knowledge) and the resync on reconnect makes Redis right again.
   */
  #apply<T>(field: string, delta: number, extra: string, rosterKey: string, ok: (r: ScriptResult) => T, fallback: () => T): Maybe<T> {
    if (!this.#healthy) return fallback();
    return (this.#cmd.eval(APPLY, 0, this.#K, this.nodeId, rosterKey, field, String(delta), extra) as Promise<ScriptResult>).then(ok, (err: unknown) => {
      this.#onLost(err as Error);
      return fallback();
    });
  }

  subscriptionChanged(app: App, channel: string, delta: 1 | -1): Maybe<number> {
    const field = `s${SEP}${app.id}${SEP}${channel}`;
    const local = this.#mirror(field, delta);
    return this.#apply(field, delta, '', '', (r) => Math.max(0, Number(r[0][0])), () => local);
  }

  presenceJoined(app: App, channel: string, userId: string, info: unknown): Maybe<PresenceJoin> {
    const field = `p${SEP}${app.id}${SEP}${channel}${SEP}${userId}`;
    const extra = JSON.stringify(info ?? null);
    const local = this.#mirror(field, 1, extra);
    const rosterKey = `${this.#K}:a:${app.id}:i:${channel}`;
    return this.#apply(
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
    for (const [field, c] of this.#mine) if (field.startsWith(prefix)) out.set(field.slice(prefix.length), parseInfo(c.extra));
    return out;
  }

  presenceLeft(app: App, channel: string, userId: string): Maybe<boolean> {
    const field = `p${SEP}${app.id}${SEP}${channel}${SEP}${userId}`;
    const local = this.#mirror(field, -1);
    return this.#apply(field, -1, '', '', (r) => Number(r[0][0]) <= 0, () => local <= 0);
  }

  reserveConnection(app: App, limit: number): Maybe<boolean> {
    const field = `c${SEP}${app.id}`;
    if (!this.#healthy) {
      const local = this.#mine.get(field)?.n ?? 0;
      if (local >= limit) return false;
      this.#mirror(field, 1);
      return true;
    }
    this.#mirror(field, 1);
    return (this.#cmd.eval(ADMIT, 0, this.#K, this.nodeId, app.id, String(limit)) as Promise<number>).then(
      (n) => {
        if (Number(n) >= 0) return true;
        this.#mirror(field, -1);
        return false;
      },
      (err: unknown) => {
        this.#onLost(err as Error);
        return true;
      },
    );
  }

  releaseConnection(app: App): void {
    const field = `c${SEP}${app.id}`;
    this.#mirror(field, -1);
    void this.#apply(field, -1, '', '', () => undefined, () => undefined);
  }

  userChanged(app: App, userId: string, delta: 1 | -1): Maybe<boolean> {
    const field = `u${SEP}${app.id}${SEP}${userId}`;
    const local = this.#mirror(field, delta);
    const changed = (n: number): boolean => (delta > 0 ? n === 1 : n <= 0);
    const result = this.#apply(field, delta, '', '', (r) => changed(Number(r[0][0])), () => changed(local));
    const tell = (didChange: boolean): boolean => {
      if (didChange) this.#control(delta > 0 ? 'online' : 'offline', app.id, userId);
      return didChange;
    };
    return result instanceof Promise ? result.then(tell) : tell(result);
  }

  onlineUsers(app: App, userIds: readonly string[]): Maybe<ReadonlySet<string>> {
    const local = (): Set<string> => new Set(userIds.filter((id) => this.#mine.has(`u${SEP}${app.id}${SEP}${id}`)));
    if (!this.#healthy || userIds.length === 0) return local();
    return this.#cmd.hmget(`${this.#K}:a:${app.id}:users`, ...userIds).then(
      (counts) => new Set(userIds.filter((_, i) => Number(counts[i] ?? 0) > 0)),
      (err: unknown) => {
        this.#onLost(err as Error);
        return local();
      },
    );
  }

  terminateUser(app: App, userId: string): void {
    this.#sink?.terminateUser(app.id, userId);
    this.#control('terminate', app.id, userId);
  }

  holds(): ClusterHolds {
    return {
      mark: (key, ttlMs) => {
        if (this.#healthy) this.#cmd.set(`${this.#K}:hold:${key}`, '1', 'PX', ttlMs).catch((err: unknown) => this.#onLost(err as Error));
      },
      claim: async (key) => {
        if (!this.#healthy) throw new ClusterUnavailable('Redis is unreachable');
        return (await this.#cmd.del(`${this.#K}:hold:${key}`)) === 1;
      },
    };
  }

  nodeCount(): number {
    return this.#nodes;
  }

  syncUsage(day: number, deltas: ReadonlyMap<string, number>): Promise<ReadonlyMap<string, number>> | undefined {
    if (!this.#healthy || deltas.size === 0) return undefined;
    const args: string[] = [this.#K, String(day), String(2 * 86_400)];
    for (const [appId, n] of deltas) args.push(appId, String(n));
    return (this.#cmd.eval(USAGE, 0, ...args) as Promise<number[]>).then((totals) => {
      const out = new Map<string, number>();
      [...deltas.keys()].forEach((appId, i) => out.set(appId, Number(totals[i] ?? 0)));
      return out;
    });
  }

  // ── cache channels ───────────────────────────────────────────────────────────────────

  cacheSet(app: App, channel: string, entry: CachedEventData, ttlSec: number): void {
    if (!this.#healthy) return;
    this.#cmd
      .set(`${this.#K}:a:${app.id}:cache:${channel}`, JSON.stringify(entry), 'PX', ttlSec * 1000)
      .catch((err: unknown) => this.#onLost(err as Error));
  }

  cacheGet(app: App, channel: string): Maybe<CachedEventData | undefined> {
    if (!this.#healthy) return undefined;
    return this.#cmd.get(`${this.#K}:a:${app.id}:cache:${channel}`).then(
      (raw) => (raw === null ? undefined : (JSON.parse(raw) as CachedEventData)),
      (err: unknown) => {
        this.#onLost(err as Error);
        return undefined;
      },
    );
  }

  // ── queries ──────────────────────────────────────────────────────────────────────────

  /** Runs a cluster-wide query; while Redis is away it fails with ClusterUnavailable (REST 503). */
  async #query<T>(run: () => Promise<T>): Promise<T> {
    if (!this.#healthy) throw new ClusterUnavailable('Redis is unreachable');
    try {
      return await run();
    } catch (err) {
      this.#onLost(err as Error);
      throw new ClusterUnavailable((err as Error).message);
    }
  }

  channels(app: App): Promise<ReadonlyMap<string, ChannelSummary>> {
    return this.#query(() => this.#channels(app));
  }

  async #channels(app: App): Promise<ReadonlyMap<string, ChannelSummary>> {
    const subs = await this.#cmd.hgetall(`${this.#K}:a:${app.id}:subs`);
    const names = Object.keys(subs).filter((ch) => Number(subs[ch]) > 0);
    const presence = names.filter((ch) => ch.startsWith('presence-'));
    const pipe = this.#cmd.pipeline();
    for (const ch of presence) pipe.hlen(`${this.#K}:a:${app.id}:p:${ch}`);
    const lens = presence.length > 0 ? ((await pipe.exec()) ?? []) : [];
    const users = new Map(presence.map((ch, i) => [ch, Number(lens[i]?.[1] ?? 0)]));
    return new Map(names.map((ch) => [ch, { subscriptions: Number(subs[ch]), users: users.get(ch) ?? 0 }]));
  }

  channel(app: App, channel: string): Promise<ChannelSummary> {
    return this.#query(() => this.#channel(app, channel));
  }

  async #channel(app: App, channel: string): Promise<ChannelSummary> {
    const [subs, users] = await Promise.all([
      this.#cmd.hget(`${this.#K}:a:${app.id}:subs`, channel),
      this.#cmd.hlen(`${this.#K}:a:${app.id}:p:${channel}`),
    ]);
    return { subscriptions: Math.max(0, Number(subs ?? 0)), users };
  }

  members(app: App, channel: string): Promise<readonly string[]> {
    return this.#query(() => this.#cmd.hkeys(`${this.#K}:a:${app.id}:p:${channel}`));
  }
}

function parseInfo(raw: string | undefined): unknown {
  if (raw === undefined || raw === '') return null;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}
