/**
 * The broker across nodes, over Redis Pub/Sub. A frame published on any node goes to Redis
 * channel `{p}:m:{app}:{channel}`; only nodes with a local subscriber of that channel SUBSCRIBE
 * to it, so adding nodes adds capacity. Each node has delivered its own publishes locally and
 * ignores their echo. Control messages (terminate a user; a user came online or went offline)
 * go to every node on `{p}:ctl`.
 *
 * The subscriber connection counts for the node's health: from the moment it drops (Redis
 * restarted, `CLIENT KILL`, the output-buffer limit) until it is back and every channel is
 * subscribed again, remote frames do not arrive here, so the node is not ready.
 */
import type { Redis } from 'ioredis';
import type { App } from '../apps/registry.js';
import type { Broker } from './broker.js';
import type { ClusterSink } from './cluster.js';
import { connect, type RedisNode } from './redis-node.js';

type Control = 'terminate' | 'online' | 'offline';

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
  }

  /** Subscribes every watched channel again; listening once Redis confirms (SUBSCRIBE is idempotent). */
  async #resubscribe(): Promise<void> {
    const drops = this.#drops;
    if (this.#sub.status !== 'ready') return;
    try {
      await this.#sub.subscribe(...this.#watched);
      if (drops === this.#drops && this.#sub.status === 'ready') this.#listening = true;
    } catch (err) {
      this.#node.log.warn({ err: (err as Error).message }, 'redis: resubscribe failed; retrying on the next reconnect');
      this.#sub.disconnect(true);
    }
  }

  /** Message format: `{origin node}\n{excepted socket id or ''}\n{frame}`. */
  publish(app: App, channel: string, frame: string, exceptSocketId?: string): void {
    const node = this.#node;
    if (!node.live()) return;
    const msg = `${node.nodeId}\n${exceptSocketId ?? ''}\n${frame}`;
    node.cmd.publish(node.keys.messages(app.id, channel), msg).catch((err: unknown) => node.failed(err as Error));
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
    const target = this.#node.keys.parseMessages(redisChannel);
    const nl1 = message.indexOf('\n');
    const nl2 = message.indexOf('\n', nl1 + 1);
    if (target === undefined || nl1 < 0 || nl2 < 0) return;
    if (message.slice(0, nl1) === this.#node.nodeId) return;
    const except = message.slice(nl1 + 1, nl2);
    sink.deliver(target[0], target[1], message.slice(nl2 + 1), except === '' ? undefined : except);
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
