/**
 * A Herald node's membership of a Redis-backed cluster (see redis.ts for the whole design).
 * Cluster-wide counters change atomically together with the node's contribution hash; a node
 * that stops heartbeating is reaped exactly once by another node, which announces the
 * transitions (member_removed, vacated); after an outage the node replays its whole
 * contribution in one script.
 */
import { Redis } from 'ioredis';
import { customAlphabet } from 'nanoid';
import type { Logger } from '../log.js';
import type { AdapterSink, Maybe, Transition } from './adapter.js';
import { APPLY, HEARTBEAT, REAP, RESYNC, SEP } from './redis-scripts.js';

export interface RedisNodeOptions {
  readonly url: string;
  readonly keyPrefix: string;
  readonly heartbeatMs: number;
  /** A node silent this long is reaped (its members removed, its connections uncounted). */
  readonly deadAfterMs: number;
  readonly logger: Logger;
  readonly nodeId?: string;
}

const nodeIdGen = customAlphabet('0123456789abcdefghijklmnopqrstuvwxyz', 12);

export interface Contribution {
  n: number;
  extra: string;
}

export type ScriptResult = [number[], string[]];

/**
 * One node's membership of the cluster: its two Redis connections, its health, its local
 * mirror of what it contributes to the shared counters, heartbeats and the reaping of dead
 * nodes, resynchronisation after an outage, and the routing of messages from other nodes.
 */
export class RedisNode {
  readonly nodeId: string;
  /** Every key starts with this hash tag, so one slot holds them all. */
  readonly K: string;
  /** The command connection: no offline queue, so calls fail fast while Redis is away. */
  readonly cmd: Redis;
  readonly #sub: Redis;
  /** This node's share of the cluster counters, kept locally so it survives a Redis outage. */
  readonly #mine = new Map<string, Contribution>();
  /** Where messages from other nodes go (the core); set by start(). */
  sink: AdapterSink | undefined;
  #healthy = false;
  #resyncing: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #outageLogged = false;
  /** Live nodes as of the last heartbeat (this one included). */
  #nodes = 1;

  nodeCount(): number {
    return this.#nodes;
  }

  /** This node's contribution fields starting with `prefix`, with their extras. */
  *contributions(prefix: string): IterableIterator<[string, Contribution]> {
    for (const entry of this.#mine) if (entry[0].startsWith(prefix)) yield entry;
  }

  contribution(field: string): Contribution | undefined {
    return this.#mine.get(field);
  }
  /** Bumped on every mirror change, so a resync can tell that it raced with local changes. */
  #version = 0;

  constructor(readonly options: RedisNodeOptions) {
    this.nodeId = options.nodeId ?? nodeIdGen();
    this.K = `{${options.keyPrefix}}`;
    const common = { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: (n: number) => Math.min(100 * n, 2000) };
    this.cmd = new Redis(options.url, { ...common, enableOfflineQueue: false });
    this.#sub = new Redis(options.url, { ...common, enableOfflineQueue: true, maxRetriesPerRequest: null });
  }

  get log(): Logger {
    return this.options.logger;
  }

  async start(sink: AdapterSink): Promise<void> {
    this.sink = sink;
    this.cmd.on('ready', () => this.#onReady());
    for (const ev of ['close', 'end'] as const) this.cmd.on(ev, () => this.failed());
    this.cmd.on('error', (err: Error) => this.failed(err));
    this.#sub.on('error', (err: Error) => this.log.debug({ err: err.message }, 'redis subscriber error'));
    this.#sub.on('message', (channel: string, message: string) => this.#onMessage(channel, message));
    await this.#sub.subscribe(`${this.K}:ctl`).catch((err: unknown) => this.log.warn({ err }, 'redis: control channel subscribe deferred'));
    await this.cmd.connect().catch((err: unknown) => this.failed(err as Error));
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
      await this.#resync().catch((err: unknown) => this.log.warn({ err }, 'redis: final resync failed'));
      await this.cmd.zrem(`${this.K}:nodes`, this.nodeId).catch((err: unknown) => this.log.warn({ err }, "redis: could not leave the node list; it will be reaped"));
    }
    this.cmd.disconnect();
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
    return Number(await this.cmd.client('ID'));
  }

  /** Drops both connections without any clean-up, as a crash would; other nodes reap this one. */
  abandon(): void {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.cmd.disconnect();
    this.#sub.disconnect();
  }

  // ── connection state ────────────────────────────────────────────────────────────────

  #onReady(): void {
    if (this.#stopped) return;
    this.#resyncing = this.#resync().then(
      () => {
        this.#healthy = true;
        if (this.#outageLogged) this.log.info({ node: this.nodeId }, 'redis: reconnected and resynchronised');
        this.#outageLogged = false;
      },
      (err: unknown) => this.failed(err as Error),
    );
  }

  /** Marks the cluster unreachable (logged once per outage); the next ready event resyncs. */
  failed(err?: Error): void {
    this.#healthy = false;
    if (!this.#outageLogged && !this.#stopped) {
      this.#outageLogged = true;
      this.log.error({ node: this.nodeId, err: err?.message }, 'redis unreachable: serving local clients only until it returns');
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
    const args: string[] = [this.K, this.nodeId];
    for (const [field, c] of this.#mine) args.push(field, String(c.n), c.extra);
    const flat = (await this.cmd.eval(RESYNC, 0, ...args)) as Array<string | number>;
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
      const [live, dead] = (await this.cmd.eval(HEARTBEAT, 0, this.K, this.nodeId, String(this.options.deadAfterMs))) as [number, string[]];
      this.#nodes = Math.max(1, Number(live));
      for (const node of dead) {
        if (node === this.nodeId) continue;
        const flat = (await this.cmd.eval(REAP, 0, this.K, node, String(this.options.deadAfterMs))) as Array<string | number>;
        if (flat.length > 0) this.log.warn({ node: this.nodeId, dead: node, changes: flat.length / 2 }, 'redis: reaped a silent node');
        for (let i = 0; i < flat.length; i += 2) {
          const newv = Number(flat[i + 1]);
          const field = String(flat[i]);
          this.#announce(field, Number.POSITIVE_INFINITY, newv);
        }
      }
    } catch (err) {
      this.failed(err as Error);
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
    if (t !== undefined) this.sink?.transition(t);
  }

  // ── messages ─────────────────────────────────────────────────────────────────────────

  /** Sends a frame for app/channel to the other nodes watching it. */
  publish(appId: string, channel: string, frame: string, exceptSocketId?: string): void {
    if (!this.#healthy) return;
    const msg = `${this.nodeId}\n${exceptSocketId ?? ''}\n${frame}`;
    this.cmd.publish(this.channelKey(appId, channel), msg).catch((err: unknown) => this.failed(err as Error));
  }

  /** Resolves once frames for the channel reach this node (undefined while Redis is away). */
  watch(appId: string, channel: string): Promise<void> | undefined {
    const done = this.#sub.subscribe(this.channelKey(appId, channel)).then(
      () => undefined,
      (err: unknown) => this.log.warn({ err, channel }, 'redis: subscribe failed; remote events for this channel resume on reconnect'),
    );
    return this.#healthy ? done : undefined;
  }

  unwatch(appId: string, channel: string): void {
    this.#sub.unsubscribe(this.channelKey(appId, channel)).catch((err: unknown) => this.log.debug({ err, channel }, 'redis: unsubscribe failed'));
  }

  channelKey(appId: string, channel: string): string {
    return `${this.K}:m:${appId}:${channel}`;
  }

  #onMessage(redisChannel: string, message: string): void {
    const sink = this.sink;
    if (sink === undefined) return;
    if (redisChannel === `${this.K}:ctl`) return this.#onControl(message);
    const rest = redisChannel.slice(this.K.length + 3);
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
      this.log.warn({ err: (err as Error).message }, 'redis: unreadable control message');
      return;
    }
    if (m.origin === this.nodeId || typeof m.app !== 'string' || typeof m.user !== 'string') return;
    if (m.type === 'terminate') this.sink?.terminateUser(m.app, m.user);
    else if (m.type === 'online' || m.type === 'offline') this.sink?.userPresence(m.app, m.user, m.type === 'online');
  }

  control(type: string, appId: string, userId: string): void {
    if (!this.#healthy) return;
    const msg = JSON.stringify({ origin: this.nodeId, type, app: appId, user: userId });
    this.cmd.publish(`${this.K}:ctl`, msg).catch((err: unknown) => this.failed(err as Error));
  }

  // ── counters ─────────────────────────────────────────────────────────────────────────

  /** Updates the local mirror; returns the node-local value after. */
  mirror(field: string, delta: number, extra = ''): number {
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
  apply<T>(field: string, delta: number, extra: string, rosterKey: string, ok: (r: ScriptResult) => T, fallback: () => T): Maybe<T> {
    if (!this.#healthy) return fallback();
    return (this.cmd.eval(APPLY, 0, this.K, this.nodeId, rosterKey, field, String(delta), extra) as Promise<ScriptResult>).then(ok, (err: unknown) => {
      this.failed(err as Error);
      return fallback();
    });
  }
}

export function parseInfo(raw: string | undefined): unknown {
  if (raw === undefined || raw === '') return null;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}
