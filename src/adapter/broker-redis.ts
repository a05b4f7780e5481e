/**
 * The broker across nodes, over Redis Pub/Sub. A frame published on any node goes to Redis
 * channel `{p}:m:{app}:{channel}`; only nodes with a local subscriber of that channel SUBSCRIBE
 * to it, so adding nodes adds capacity. Each node has delivered its own publishes locally and
 * ignores their echo. Control messages (terminate a user; a user came online or went offline)
 * go to every node on `{p}:ctl`.
 *
 * The subscriber connection counts for the node's health: from the moment it drops (Redis
 * restarted, `CLIENT KILL`, the output-buffer limit) until it is back and every channel is
 * subscribed again, remote frames do not arrive here, so the node is not ready. Nothing a
 * publisher was told was sent is lost meanwhile: a publish is numbered and, while fewer
 * subscribers listen to the control channel than nodes heartbeat, also kept in a replay list
 * (redis-scripts.ts heraldPublish); the node that was away delivers, once subscribed again,
 * the frames numbered after the last one it received, merged in order with the live ones that
 * came in meanwhile.
 */
import type { Redis } from 'ioredis';
import type { App } from '../apps/registry.js';
import type { Broker } from './broker.js';
import type { ClusterSink } from './cluster.js';
import { connect, type RedisNode } from './redis-node.js';

type Control = 'terminate' | 'online' | 'offline';

/** A frame from another node: its publish number, the Redis channel, `{origin}\n{except}\n{frame}`. */
type Numbered = [seq: number, redisChannel: string, body: string];

const REPLAY_CAP = 10_000;
const REPLAY_TTL_MS = 60_000;

export class RedisBroker implements Broker {
  readonly #node: RedisNode;
  /** Subscriber connection: SUBSCRIBEs queue while Redis is away and are replayed on reconnect. */
  readonly #sub: Redis;
  /** The Redis channels this node listens to (control included), subscribed again after a reconnect. */
  readonly #watched = new Set<string>();
  #sink: ClusterSink | undefined;
  /** Every watched channel is subscribed on a live connection. */
  #listening = false;
  /** Bumped whenever the connection drops, so a stale resubscribe does not report listening. */
  #drops = 0;
  /** The highest publish number received. */
  #lastSeq = 0;
  /** #lastSeq when the subscriber dropped; undefined while nothing is missed. */
  #missedFrom: number | undefined;
  /** Live frames held back while the missed ones are fetched, so they go out in order. */
  #held: Numbered[] | undefined;
  /**
   * Publish numbers delivered from the replay list whose live copy may still be on its way: the
   * replay is read on the command connection, so a frame published just before the read can
   * reach the subscriber connection after it. Such a copy is dropped, not delivered twice.
   */
  readonly #replayed = new Set<number>();
  #replayedMax = 0;

  constructor(node: RedisNode) {
    this.#node = node;
    this.#sub = connect(node.options.url, 'subscriber', node.options.commandTimeoutMs ?? 2000, node.clientName);
  }

  async start(sink: ClusterSink): Promise<void> {
    this.#sink = sink;
    const log = this.#node.log;
    this.#watched.add(this.#node.keys.control);
    this.#sub.on('error', (err: Error) => log.debug({ err: err.message }, 'redis subscriber error'));
    this.#sub.on('message', (channel: string, message: string) => this.#onMessage(channel, message));
    for (const ev of ['close', 'end'] as const) this.#sub.on(ev, () => this.#dropped());
    this.#sub.on('ready', () => void this.#resubscribe());
    await this.#sub.connect().catch((err: unknown) => log.warn({ err }, 'redis: subscriber connection deferred'));
    await this.#resubscribe();
  }

  stop(): void {
    this.#drops++;
    this.#sub.disconnect();
  }

  /** True while remote frames reach this node (the subscriber is connected and subscribed). */
  listening(): boolean {
    return this.#listening;
  }

  #dropped(): void {
    if (this.#listening) this.#node.log.warn({ node: this.#node.nodeId }, 'redis: subscriber connection lost; not ready until it is back and resubscribed');
    this.#listening = false;
    this.#drops++;
    this.#missedFrom ??= this.#lastSeq;
  }

  /**
   * Subscribes every watched channel again (SUBSCRIBE is idempotent), then delivers what was
   * missed; listening once both are done on a connection that did not drop meanwhile.
   */
  async #resubscribe(): Promise<void> {
    const drops = this.#drops;
    if (this.#sub.status !== 'ready') return;
    this.#held ??= [];
    try {
      await this.#sub.subscribe(...this.#watched);
      const missed = this.#missedFrom === undefined ? [] : await this.#node.cmd.lrange(this.#node.keys.replay, 0, -1);
      if (drops !== this.#drops || this.#sub.status !== 'ready') return;
      this.#catchUp(missed);
      this.#listening = true;
    } catch (err) {
      this.#node.log.warn({ err: (err as Error).message }, 'redis: resubscribe failed; retrying on the next reconnect');
      this.#sub.disconnect(true);
    }
  }

  /** Delivers the replayed frames numbered after #missedFrom and the held live ones, in publish order, once each. */
  #catchUp(replay: readonly string[]): void {
    const from = this.#missedFrom ?? Number.POSITIVE_INFINITY;
    const frames = new Map<number, Numbered>();
    for (const entry of replay) {
      const nl = entry.indexOf('\n');
      const numbered = parseNumbered(entry.slice(0, nl), entry.slice(nl + 1));
      if (numbered !== undefined && numbered[0] > from && this.#watched.has(numbered[1])) frames.set(numbered[0], numbered);
    }
    const held = this.#held ?? [];
    const replayed = frames.size - held.filter((f) => frames.has(f[0])).length;
    for (const seq of frames.keys()) {
      this.#replayed.add(seq); // at most REPLAY_CAP numbers
      if (seq > this.#replayedMax) this.#replayedMax = seq;
    }
    for (const f of held) {
      frames.set(f[0], f);
      this.#replayed.delete(f[0]); // its live copy has arrived already
    }
    this.#held = undefined;
    this.#missedFrom = undefined;
    if (from !== Number.POSITIVE_INFINITY) this.#node.log.info({ node: this.#node.nodeId, frames: replayed }, 'redis: subscriber back; delivered what it missed');
    for (const seq of [...frames.keys()].sort((x, y) => x - y)) this.#deliver(frames.get(seq) as Numbered);
  }

  /** Message format: `{publish number}\n{origin node}\n{excepted socket id or ''}\n{frame}` (the number is added in Redis). */
  publish(app: App, channel: string, frame: string, exceptSocketId?: string): void {
    const node = this.#node;
    if (!node.live()) return;
    const msg = `${node.nodeId}\n${exceptSocketId ?? ''}\n${frame}`;
    const { keys } = node;
    const freshMs = 3 * node.options.heartbeatMs;
    node.cmd
      .heraldPublish(keys.nodes, keys.publishSeq, keys.replay, keys.messages(app.id, channel), msg, keys.control, freshMs, REPLAY_CAP, REPLAY_TTL_MS)
      .catch((err: unknown) => node.failed(err as Error));
  }

  /** Resolves once frames for the channel reach this node (undefined while Redis is away). */
  watch(app: App, channel: string): Promise<void> | undefined {
    const key = this.#node.keys.messages(app.id, channel);
    this.#watched.add(key);
    const done = this.#sub.subscribe(key).then(
      () => undefined,
      (err: unknown) => this.#node.log.warn({ err, channel }, 'redis: subscribe failed; remote events for this channel resume on reconnect'),
    );
    return this.#node.healthy() && this.#listening ? done : undefined;
  }

  unwatch(app: App, channel: string): void {
    const key = this.#node.keys.messages(app.id, channel);
    this.#watched.delete(key);
    this.#sub.unsubscribe(key).catch((err: unknown) => this.#node.log.debug({ err, channel }, 'redis: unsubscribe failed'));
  }

  terminateUser(app: App, userId: string): void {
    this.#sink?.terminateUser(app.id, userId);
    this.announce('terminate', app.id, userId);
  }

  /** Tells the other nodes (never this one) about a user; dropped while Redis is away. */
  announce(type: Control, appId: string, userId: string): void {
    const node = this.#node;
    if (!node.live()) return;
    const msg = JSON.stringify({ origin: node.nodeId, type, app: appId, user: userId });
    node.cmd.publish(node.keys.control, msg).catch((err: unknown) => node.failed(err as Error));
  }

  #onMessage(redisChannel: string, message: string): void {
    const sink = this.#sink;
    if (sink === undefined) return;
    if (redisChannel === this.#node.keys.control) return this.#onControl(sink, message);
    const numbered = parseNumbered(redisChannel, message);
    if (numbered === undefined) return;
    if (this.#held !== undefined) this.#held.push(numbered);
    else if (!this.#alreadyReplayed(numbered[0])) this.#deliver(numbered);
  }

  /** True for the late live copy of a frame the catch-up delivered from the replay list (consumed once). */
  #alreadyReplayed(seq: number): boolean {
    if (this.#replayed.size === 0) return false;
    if (this.#replayed.delete(seq)) return true;
    if (seq > this.#replayedMax) this.#replayed.clear(); // live has passed every replayed number: none can come late now
    return false;
  }

  #deliver([seq, redisChannel, body]: Numbered): void {
    this.#lastSeq = Math.max(this.#lastSeq, seq);
    const target = this.#node.keys.parseMessages(redisChannel);
    const nl1 = body.indexOf('\n');
    const nl2 = body.indexOf('\n', nl1 + 1);
    if (this.#sink === undefined || target === undefined || nl1 < 0 || nl2 < 0) return;
    if (body.slice(0, nl1) === this.#node.nodeId) return;
    const except = body.slice(nl1 + 1, nl2);
    this.#sink.deliver(target[0], target[1], body.slice(nl2 + 1), except === '' ? undefined : except);
  }

  #onControl(sink: ClusterSink, message: string): void {
    let m: { origin?: unknown; type?: unknown; app?: unknown; user?: unknown };
    try {
      m = JSON.parse(message) as typeof m;
    } catch (err) {
      this.#node.log.warn({ err: (err as Error).message }, 'redis: unreadable control message');
      return;
    }
    if (typeof m !== 'object' || m === null || m.origin === this.#node.nodeId || typeof m.app !== 'string' || typeof m.user !== 'string') return;
    if (m.type === 'terminate') sink.terminateUser(m.app, m.user);
    else if (m.type === 'online' || m.type === 'offline') sink.userPresence(m.app, m.user, m.type === 'online');
  }
}

/** `{seq}\n{body}` on a Redis channel → [seq, channel, body]; undefined if unnumbered. */
function parseNumbered(redisChannel: string, message: string): Numbered | undefined {
  const nl = message.indexOf('\n');
  const seq = Number(message.slice(0, nl));
  return nl > 0 && Number.isSafeInteger(seq) ? [seq, redisChannel, message.slice(nl + 1)] : undefined;
}
