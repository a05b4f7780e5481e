/**
 * The transport-free protocol core: owns every connection and each app's channel state, turns
 * inbound frames into state changes and fan-out, and answers the REST API's queries. A
 * transport calls open/message/closed; REST calls publish and the query methods.
 */
import { randomInt } from 'node:crypto';
import type { App, AppRegistry } from '../apps/registry.js';
import { channelType, USER_CHANNEL_PREFIX } from '../channels/names.js';
import { AppState, removeFromSetMap } from '../channels/state.js';
import type { Logger } from '../log.js';
import type { MessageMeter } from '../quota/meter.js';
import { Codes, type PusherCode } from '../wire/codes.js';
import { connectionEstablished, errorFrame, eventFrame, parseInbound, PONG } from '../wire/frames.js';
import { handleClientEvent } from './client-events.js';
import { Connection } from './connection.js';
import { checkLiveness } from './liveness.js';
import type { CoreObserver } from './observer.js';
import type { SocketPort, TopicHub } from './ports.js';
import { topicOf } from './ports.js';
import { handleSignin, userOffline } from './signin.js';
import { handleSubscribe, handleUnsubscribe, leaveChannel } from './subscribe.js';

export interface CoreSettings {
  readonly activityTimeoutSec: number;
  readonly pongTimeoutSec: number;
  readonly maxConnections: number;
}

export interface CoreDeps {
  readonly settings: CoreSettings;
  readonly apps: AppRegistry;
  readonly hub: TopicHub;
  readonly observer: Required<CoreObserver>;
  readonly meter: MessageMeter;
  readonly logger: Logger;
  readonly now: () => number;
}

export type OpenResult = { ok: true; connection: Connection } | { ok: false; code: PusherCode };

export class Core {
  readonly connections = new Map<string, Connection>();
  readonly #states = new Map<string, AppState>();
  #sweep: NodeJS.Timeout | undefined;
  #accepting = true;

  constructor(readonly deps: CoreDeps) {}

  state(app: App): AppState {
    let s = this.#states.get(app.id);
    if (s === undefined) {
      s = new AppState();
      this.#states.set(app.id, s);
    }
    return s;
  }

  /** Starts the liveness sweep (server pings, 4201, authorized-connection deadlines). */
  start(): void {
    const { activityTimeoutSec, pongTimeoutSec } = this.deps.settings;
    const everyMs = Math.max(250, Math.min(activityTimeoutSec, pongTimeoutSec) * 250);
    this.#sweep = setInterval(() => checkLiveness(this, this.deps.now()), everyMs);
    this.#sweep.unref();
  }

  stop(): void {
    if (this.#sweep) clearInterval(this.#sweep);
    this.#sweep = undefined;
  }

  stopAccepting(): void {
    this.#accepting = false;
  }

  /** Decides whether a new connection for `app` may open (§3.1 codes 4003, 4004, 4100). */
  admit(app: App): PusherCode | undefined {
    if (!app.enabled) return Codes.APP_DISABLED;
    if (!this.#accepting) return Codes.RECONNECT;
    if (this.connections.size >= this.deps.settings.maxConnections) return Codes.OVER_CAPACITY;
    if (this.state(app).connections >= app.limits.maxConnections) return Codes.OVER_CONNECTION_QUOTA;
    return undefined;
  }

  /** Registers an admitted socket and sends pusher:connection_established as its first frame. */
  open(app: App, socket: SocketPort): Connection {
    const conn = new Connection(this.newSocketId(), app, socket, this.deps.now());
    this.connections.set(conn.socketId, conn);
    this.state(app).connections++;
    socket.send(connectionEstablished(conn.socketId, this.deps.settings.activityTimeoutSec));
    this.deps.observer.connectionOpened(app);
    return conn;
  }

  newSocketId(): string {
    for (;;) {
      const id = `${randomInt(1, 2 ** 31)}.${randomInt(1, 2 ** 31)}`;
      if (!this.connections.has(id)) return id;
    }
  }

  /** One inbound text frame. Bad input gets a pusher:error and never throws. */
  message(conn: Connection, text: string): void {
    if (conn.state !== 'open') return;
    conn.lastActivityMs = this.deps.now();
    conn.pingSentAtMs = 0;
    this.deps.observer.received(conn.app, text.length);
    const parsed = parseInbound(text);
    if (!parsed.ok) {
      conn.socket.send(errorFrame(null, parsed.reason));
      return;
    }
    const { event, channel, data } = parsed.frame;
    switch (event) {
      case 'pusher:ping':
        conn.socket.send(PONG);
        return;
      case 'pusher:pong':
        return;
      case 'pusher:subscribe':
        handleSubscribe(this, conn, data);
        return;
      case 'pusher:unsubscribe':
        handleUnsubscribe(this, conn, data);
        return;
      case 'pusher:signin':
        handleSignin(this, conn, data);
        return;
      default:
        if (event.startsWith('client-')) handleClientEvent(this, conn, event, channel, data);
        else conn.socket.send(errorFrame(null, `Unsupported event "${event.slice(0, 64)}"`));
    }
  }

  /** Any sign of life that is not a frame (a WebSocket pong). */
  activity(conn: Connection): void {
    conn.lastActivityMs = this.deps.now();
    conn.pingSentAtMs = 0;
  }

  /** Closes a connection with a Pusher code: pusher:error first, then the close frame (§3.1). */
  kick(conn: Connection, code: PusherCode, detail?: string): void {
    if (conn.state !== 'open') return;
    const message = detail ? `${code.message}: ${detail}` : code.message;
    conn.socket.send(errorFrame(code, message));
    conn.socket.close(code.code, message);
  }

  /** The transport reports that the socket is gone (whoever closed it). Idempotent. */
  closed(conn: Connection, code?: number): void {
    if (conn.state === 'closed') return;
    conn.state = 'closed';
    this.connections.delete(conn.socketId);
    const state = this.state(conn.app);
    state.connections--;
    for (const [name, sub] of conn.channels) leaveChannel(this, conn, name, sub, false);
    conn.channels.clear();
    if (conn.user !== undefined) {
      if (removeFromSetMap(state.users, conn.user.id, conn)) userOffline(this, conn.app, conn.user.id);
      for (const id of conn.user.watchlist) removeFromSetMap(state.watchers, id, conn);
    }
    this.deps.observer.connectionClosed(conn.app, code);
  }

  /**
   * Publishes one event to a channel, serialised once; `exceptSocketId` skips that socket
   * (REST socket_id exclusion). Returns the number of deliveries for counting.
   */
  publish(app: App, channel: string, event: string, data: string, exceptSocketId?: string): number {
    const state = this.state(app);
    if (channelType(channel).cache) state.storeCached(channel, { event, data, storedAtMs: this.deps.now() });
    const subscribers = state.channels.get(channel)?.subscribers ?? 0;
    if (subscribers === 0) return 0;
    const frame = eventFrame(event, channel, data);
    const topic = topicOf(app.id, channel);
    const except = exceptSocketId === undefined ? undefined : this.connections.get(exceptSocketId);
    let deliveries = subscribers;
    if (except !== undefined && except.app.id === app.id && except.channels.has(channel)) {
      except.socket.publishFromSelf(topic, frame);
      deliveries--;
    } else {
      this.deps.hub.publish(topic, frame);
    }
    this.deps.observer.delivered(app, deliveries, frame.length);
    return deliveries;
  }

  /** Sends an internal frame to every subscriber of a channel (member_added, subscription_count, …). */
  broadcast(app: App, channel: string, frame: string, from?: Connection): void {
    const subscribers = this.state(app).channels.get(channel)?.subscribers ?? 0;
    const topic = topicOf(app.id, channel);
    if (from !== undefined && from.channels.has(channel)) {
      if (subscribers > 1) from.socket.publishFromSelf(topic, frame);
    } else if (subscribers > 0) {
      this.deps.hub.publish(topic, frame);
    }
  }

  /** Closes every connection signed in as `userId` (REST terminate_connections). */
  terminateUser(app: App, userId: string): number {
    const conns = [...(this.state(app).users.get(userId) ?? [])];
    for (const conn of conns) this.kick(conn, Codes.UNAUTHORIZED_CONNECTION, 'terminated by the application');
    return conns.length;
  }

  /** Closes every connection (graceful shutdown, app removal) with `code`. */
  kickAll(code: PusherCode, filter: (conn: Connection) => boolean = () => true): number {
    let n = 0;
    for (const conn of [...this.connections.values()]) {
      if (filter(conn)) {
        this.kick(conn, code);
        n++;
      }
    }
    return n;
  }

  isUserChannel(channel: string): boolean {
    return channel.startsWith(USER_CHANNEL_PREFIX);
  }
}
