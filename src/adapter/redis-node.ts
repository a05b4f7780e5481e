/**
 * One Herald node's membership of a Redis-backed cluster, internal to the Redis implementation
 * (the *-redis.ts files use it; callers see only the Cluster interfaces).
 *
 * - Shares: the node mirrors locally what it contributes to each cluster-wide counter, so the
 *   mirror survives a Redis outage; a change goes to Redis in one script together with the
 *   node's contribution hash (redis-keys.ts).
 * - Failure: the command connection has no offline queue and every command has a timeout
 *   (commandTimeoutMs), so calls fail fast while Redis is away or hangs; answers then come from
 *   the mirror and the node reports unhealthy. On reconnect (or, when the connection stayed up,
 *   at the next heartbeat tick) it replays its whole contribution in one script, announcing
 *   what changed cluster-wide.
 * - Resync converges in one pass under churn: the snapshot is taken and sent in one tick, and
 *   from that moment local changes go to Redis again on the same connection, so Redis runs them
 *   after the snapshot (one connection keeps order). A failure during the pass starts another.
 * - Liveness: it heartbeats; a node silent for deadAfterMs is reaped exactly once by another
 *   node, which announces the transitions (member_removed, vacated). A reaped node that comes
 *   back (it stalled rather than died) finds itself unregistered at its next heartbeat or delta
 *   (the scripts refuse deltas from an unregistered node) and resyncs its whole state first.
 */
import { Redis } from 'ioredis';
import { customAlphabet } from 'nanoid';
import type { Logger } from '../log.js';
import { ClusterUnavailable, type ClusterSink } from './cluster.js';
import type { Maybe } from '../maybe.js';
import { fieldTransition, RedisKeys, type Counter, type MemberCounter } from './redis-keys.js';
import { defineScripts, type ScriptedRedis } from './redis-scripts.js';

export interface RedisNodeOptions {
  readonly url: string;
  readonly keyPrefix: string;
  readonly heartbeatMs: number;
  /** A node silent this long is reaped (its members removed, its connections uncounted). */
  readonly deadAfterMs: number;
  /** A Redis command unanswered this long fails, and the node counts as in an outage (default 2000). */
  readonly commandTimeoutMs?: number;
  readonly logger: Logger;
  readonly nodeId?: string;
}

const nodeIdGen = customAlphabet('0123456789abcdefghijklmnopqrstuvwxyz', 12);

/**
 * A connection to Redis. Commands fail fast while Redis is away (no offline queue) and after
 * `commandTimeoutMs` while it does not answer; the subscriber connection queues its SUBSCRIBEs
 * and retries them until Redis is back.
 */
export function connect(url: string, role: 'command' | 'subscriber', commandTimeoutMs: number, name: string): Redis {
  const common = { lazyConnect: true, connectionName: `${name}:${role}`, commandTimeout: commandTimeoutMs, connectTimeout: Math.max(commandTimeoutMs, 1000), retryStrategy: (n: number) => Math.min(100 * n, 2000) };
  return role === 'command'
    ? new Redis(url, { ...common, enableOfflineQueue: false, maxRetriesPerRequest: 1 })
    : new Redis(url, { ...common, enableOfflineQueue: true, maxRetriesPerRequest: null });
}

interface Contribution {
  n: number;
  extra: string;
}

export class RedisNode {
  readonly nodeId: string;
  readonly keys: RedisKeys;
  readonly cmd: ScriptedRedis;
  readonly log: Logger;
  readonly #nodeKey: string;
  /** `herald:{keyPrefix}:{node}`, the prefix of both connections' CLIENT SETNAME (for operators and fault tests). */
  readonly clientName: string;
  /** This node's share of the cluster counters: field → count and extra (a member's user_info). */
  readonly #mine = new Map<string, Contribution>();
  #sink: ClusterSink | undefined;
  /** Deltas go to Redis (from the moment a resync's snapshot is sent until a failure). */
  #live = false;
  /** Redis holds this node's whole state: a resync succeeded and nothing failed since. */
  #healthy = false;
  /** Bumped by every failure, so a resync that raced with one does not report healthy. */
  #failures = 0;
  #resyncing: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #outageLogged = false;
  /** Live nodes as of the last heartbeat (this one included). */
  #nodes = 1;

  constructor(readonly options: RedisNodeOptions) {
    this.nodeId = options.nodeId ?? nodeIdGen();
    this.keys = new RedisKeys(options.keyPrefix);
    this.#nodeKey = this.keys.node(this.nodeId);
    this.clientName = `herald:${options.keyPrefix}:${this.nodeId}`;
    this.log = options.logger;
    this.cmd = defineScripts(connect(options.url, 'command', options.commandTimeoutMs ?? 2000, this.clientName));
  }

  /** Connects; resolves once the node's state is in Redis, or Redis is found away. */
  async start(sink: ClusterSink): Promise<void> {
    this.#sink = sink;
    this.cmd.on('ready', () => void this.#startResync());
    for (const ev of ['close', 'end'] as const) this.cmd.on(ev, () => this.failed());
    this.cmd.on('error', (err: Error) => this.failed(err));
    await this.cmd.connect().catch((err: unknown) => this.failed(err as Error));
    await this.#resyncing;
    this.#timer = setInterval(() => void this.#tick(), this.options.heartbeatMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    if (this.#healthy) {
      // Leave cleanly: remove this node's contribution now rather than after deadAfterMs.
      this.#mine.clear();
      await this.#resyncOnce().catch((err: unknown) => this.log.warn({ err }, 'redis: final resync failed'));
      await this.cmd.zrem(this.keys.nodes, this.nodeId).catch((err: unknown) => this.log.warn({ err }, 'redis: could not leave the node list; it will be reaped'));
    }
    this.cmd.disconnect();
  }

  /** Drops the connection without any clean-up, as a crash would; other nodes reap this one. */
  abandon(): void {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.cmd.disconnect();
  }

  healthy(): boolean {
    return this.#healthy;
  }

  /** True while commands go to Redis (the resync has sent this node's snapshot, nothing failed since). */
  live(): boolean {
    return this.#live;
  }

  nodeCount(): number {
    return this.#nodes;
  }

  /** Resolves once the node is connected and resynchronised. */
  async waitHealthy(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#healthy) {
      if (Date.now() > deadline) throw new Error('redis cluster node did not become healthy');
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** The Redis client id of the command connection (for operators and fault tests). */
  async clientId(): Promise<number> {
    return Number(await this.cmd.client('ID'));
  }

  /**
   * Marks the cluster unreachable (logged once per outage); the next ready event, or the next
   * heartbeat tick while the connection stays up, resyncs.
   */
  failed(err?: Error): void {
    this.#healthy = false;
    this.#live = false;
    this.#failures++;
    if (!this.#outageLogged && !this.#stopped) {
      this.#outageLogged = true;
      if (err?.message.includes('HERALD_REAPED')) this.log.warn({ node: this.nodeId }, 'redis: this node was reaped while it stalled; resynchronising its whole state');
      else this.log.error({ node: this.nodeId, err: err?.message }, 'redis unreachable: serving local clients only until it returns');
    }
  }

  // ── this node's shares ────────────────────────────────────────────────────────────────

  /** Updates the local mirror; returns this node's share after. */
  mirror(field: string, delta: number, extra = ''): number {
    const c = this.#mine.get(field);
    const n = (c?.n ?? 0) + delta;
    if (n > 0) this.#mine.set(field, { n, extra: extra || c?.extra || '' });
    else this.#mine.delete(field);
    return n;
  }

  /** This node's share of a counter (0 when none). */
  share(field: string): number {
    return this.#mine.get(field)?.n ?? 0;
  }

  /** This node's contribution fields starting with `prefix`, with their extras. */
  *shares(prefix: string): IterableIterator<[string, string]> {
    for (const [field, c] of this.#mine) if (field.startsWith(prefix)) yield [field, c.extra];
  }

  /**
   * Adds `delta` to this node's share of a counter and to the cluster-wide count; resolves with
   * the cluster-wide count after, or — while Redis is away — this node's share (the resync on
   * reconnect makes Redis right again).
   */
  change(c: Counter, delta: number): Maybe<number> {
    const local = this.mirror(c.field, delta);
    if (!this.#live) return local;
    return this.cmd.heraldCount(c.key, this.#nodeKey, this.keys.nodes, c.member, c.field, delta, this.nodeId).then(Number, (err: unknown) => {
      this.failed(err as Error);
      return local;
    });
  }

  /**
   * As `change` for a presence member; with `withRoster`, also resolves with the channel's
   * roster (flat user_id, user_info JSON, …) — undefined when the answer is this node's own.
   */
  changeMember(c: MemberCounter, delta: number, extra: string, withRoster: boolean): Maybe<{ count: number; roster?: string[] }> {
    const local = { count: this.mirror(c.field, delta, extra) };
    if (!this.#live) return local;
    return this.cmd.heraldMember(c.key, c.infoKey, this.#nodeKey, this.keys.nodes, c.member, c.field, delta, extra, withRoster ? '1' : '0', this.nodeId).then(
      ([count, roster]) => ({ count: Number(count), roster }),
      (err: unknown) => {
        this.failed(err as Error);
        return local;
      },
    );
  }

  /** Takes one unit of a counter unless the cluster-wide count is at `limit` (this node's share alone while Redis is away). */
  admit(c: Counter, limit: number): Maybe<boolean> {
    if (!this.#live) {
      if (this.share(c.field) >= limit) return false;
      this.mirror(c.field, 1);
      return true;
    }
    this.mirror(c.field, 1);
    return this.cmd.heraldAdmit(c.key, this.#nodeKey, this.keys.nodes, c.field, limit, this.nodeId).then(
      (n) => {
        if (Number(n) >= 0) return true;
        this.mirror(c.field, -1);
        return false;
      },
      (err: unknown) => {
        this.failed(err as Error);
        return true;
      },
    );
  }

  /** Runs a cluster-wide query; while Redis is away it fails with ClusterUnavailable (REST 503). */
  async query<T>(run: () => Promise<T>): Promise<T> {
    if (!this.#healthy) throw new ClusterUnavailable('Redis is unreachable');
    try {
      return await run();
    } catch (err) {
      this.failed(err as Error);
      throw new ClusterUnavailable((err as Error).message);
    }
  }

  // ── connection state, resync, heartbeats ──────────────────────────────────────────────

  /**
   * One resync pass; healthy once it succeeds with no failure in between (a delta sent during
   * the pass that failed may be missing from Redis: the next tick resyncs again).
   */
  #startResync(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    const failures = this.#failures;
    const pass = this.#resyncOnce().then(
      () => {
        if (this.#failures !== failures || this.#stopped) return;
        this.#healthy = true;
        if (this.#outageLogged) this.log.info({ node: this.nodeId }, 'redis: reconnected and resynchronised');
        this.#outageLogged = false;
      },
      (err: unknown) => this.failed(err as Error),
    );
    const current = (this.#resyncing = pass.finally(() => {
      if (this.#resyncing === current) this.#resyncing = undefined;
    }));
    return current;
  }

  /**
   * Sends this node's whole local state (snapshot and send in one tick; deltas made from then
   * on follow it on the same connection); announces whatever changed cluster-wide as a result.
   */
  async #resyncOnce(): Promise<void> {
    const triples: string[] = [];
    for (const [field, c] of this.#mine) triples.push(field, String(c.n), c.extra);
    const sent = this.cmd.heraldResync(this.keys.nodes, this.#nodeKey, this.keys.tag, this.nodeId, ...triples);
    this.#live = true;
    const flat = await sent;
    for (let i = 0; i < flat.length; i += 3) {
      const newv = Number(flat[i + 1]);
      this.#announce(String(flat[i]), newv - Number(flat[i + 2]), newv);
    }
  }

  /** Heartbeats while healthy; while not, and the connection is up, resyncs (one pass at a time). */
  async #tick(): Promise<void> {
    if (this.#stopped || this.cmd.status !== 'ready') return;
    if (!this.#healthy) {
      if (this.#resyncing === undefined) await this.#startResync();
      return;
    }
    await this.#heartbeat();
  }

  async #heartbeat(): Promise<void> {
    try {
      const [live, dead] = await this.cmd.heraldHeartbeat(this.keys.nodes, this.nodeId, this.options.deadAfterMs);
      if (Number(live) < 0) return this.failed(new Error('HERALD_REAPED'));
      this.#nodes = Math.max(1, Number(live));
      for (const node of dead) {
        if (node === this.nodeId) continue;
        const flat = await this.cmd.heraldReap(this.keys.nodes, this.keys.node(node), this.keys.tag, node, this.options.deadAfterMs);
        if (flat.length > 0) this.log.warn({ node: this.nodeId, dead: node, changes: flat.length / 2 }, 'redis: reaped a silent node');
        for (let i = 0; i < flat.length; i += 2) this.#announce(String(flat[i]), Number.POSITIVE_INFINITY, Number(flat[i + 1]));
      }
    } catch (err) {
      this.failed(err as Error);
    }
  }

  /** Turns a counter change found by resync or reaping into a transition for the core. */
  #announce(field: string, before: number, after: number): void {
    const t = fieldTransition(field, before, after, () => parseInfo(this.#mine.get(field)?.extra));
    if (t !== undefined) this.#sink?.transition(t);
  }
}

/** A stored user_info: JSON, or the raw text if it is not (never throws). */
export function parseInfo(raw: string | undefined): unknown {
  if (raw === undefined || raw === '') return null;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}
