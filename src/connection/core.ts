/**
 * The transport-free protocol core: owns every connection and each app's channel state, turns
 * inbound frames into state changes and fan-out, and answers the REST API's queries. A
 * transport calls open/message/closed; REST calls publish and the query methods.
 */
import { randomInt } from 'node:crypto';
import type { Cluster, ClusterSink, Transition } from '../adapter/cluster.js';
import type { Maybe } from '../adapter/maybe.js';
import type { App, AppRegistry } from '../apps/registry.js';
import { channelType } from '../channels/names.js';
import { AppState, removeFromSetMap } from '../channels/state.js';
import type { Logger } from '../log.js';
import type { MessageMeter } from '../quota/meter.js';
import type { AddressLimits } from '../quota/per-address.js';
import { Codes, type PusherCode } from '../wire/codes.js';
import { connectionEstablished, errorFrame, eventFrame, memberAdded, memberRemoved, parseInbound, PONG } from '../wire/frames.js';
import { handleClientEvent } from './client-events.js';
import { Connection } from './connection.js';
import { checkLiveness } from './liveness.js';
import type { CoreObserver } from './observer.js';
import type { SocketPort, TopicHub } from './ports.js';
import { topicOf } from './ports.js';
import { handleSignin, notifyWatchers, userSignedOut } from './signin.js';
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
  /** The cluster: this node alone (local) or several nodes sharing Redis (adapter/cluster.ts). */
  readonly cluster: Cluster;
  readonly observer: Required<CoreObserver>;
  readonly meter: MessageMeter;
  readonly logger: Logger;
  readonly now: () => number;
  /** Per-address connection and public-subscription limits (issue 11). */
  readonly addresses: AddressLimits;
  /** Refuses new connections server-wide when it returns a code (memory shedding: 4100). */
  readonly admissionGate?: () => PusherCode | undefined;
}

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
    const authSec = Math.min(...[...this.deps.apps.all()].map((a) => (a.requireAuthorizedConnections ? a.authorizedConnectionTimeoutSec : Infinity)));
    const everyMs = Math.max(250, Math.min(activityTimeoutSec, pongTimeoutSec, authSec) * 250);
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

  /**
   * Decides whether a new connection for `app` from client `address` (a key from
   * quota/per-address.ts) may open (§3.1 codes 4003, 4004, 4100; 4101/4102 per address). When
   * it returns no code a connection slot is reserved: the caller must `open` or `release` it.
   * The per-address limits come before the app's quota, so one address cannot fill it.
   */
  admit(app: App, address: string): Maybe<PusherCode | undefined> {
    if (!app.enabled) return Codes.APP_DISABLED;
    if (!this.#accepting) return Codes.RECONNECT;
    const gated = this.deps.admissionGate?.();
    if (gated !== undefined) return gated;
    if (this.connections.size >= this.deps.settings.maxConnections) return Codes.OVER_CAPACITY;
    const byAddress = this.deps.addresses.connect(address);
    if (byAddress !== 'ok') {
      this.deps.observer.addressLimited(app, byAddress);
      return byAddress === 'too_many_connections' ? Codes.TOO_MANY_FROM_ADDRESS : Codes.CONNECTING_TOO_FAST;
    }
    const reserved = this.deps.cluster.occupancy.reserveConnection(app, app.limits.maxConnections);
    const verdict = (ok: boolean): PusherCode | undefined => {
      if (ok) return undefined;
      this.deps.addresses.disconnect(address);
      return Codes.OVER_CONNECTION_QUOTA;
    };
    return reserved instanceof Promise ? reserved.then(verdict, (err: unknown) => {
      this.deps.addresses.disconnect(address);
      throw err;
    }) : verdict(reserved);
  }

  /** Gives back a slot reserved by `admit` for a socket that went away before it opened. */
  release(app: App, address: string): void {
    this.deps.cluster.occupancy.releaseConnection(app);
    this.deps.addresses.disconnect(address);
  }

  /** Registers an admitted socket and sends pusher:connection_established as its first frame. */
  open(app: App, socket: SocketPort, address: string): Connection {
    const conn = new Connection(this.newSocketId(), app, socket, this.deps.now(), address);
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
      conn.socket.send(errorFrame(null, parsed.error));
      return;
    }
    const { event, channel, data } = parsed.value;
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
      for (const id of conn.user.watchlist) removeFromSetMap(state.watchers, id, conn);
      userSignedOut(this, conn);
    }
    this.deps.cluster.occupancy.releaseConnection(conn.app);
    this.deps.addresses.disconnect(conn.address);
    this.deps.observer.connectionClosed(conn.app, code, conn.socketId);
  }

  /**
   * Publishes one event to a channel, serialised once: to local subscribers through the hub
   * and to other nodes through the broker; `exceptSocketId` skips that socket wherever it is
   * (REST socket_id exclusion). Returns the local deliveries (each node counts its own).
   */
  publish(app: App, channel: string, event: string, data: string, exceptSocketId?: string): number {
    const cluster = this.deps.cluster;
    if (channelType(channel).cache) cluster.cache.set(app, channel, { event, data, storedAtMs: this.deps.now() }, app.cacheTtlSec);
    const frame = eventFrame(event, channel, data);
    cluster.broker.publish(app, channel, frame, exceptSocketId);
    return this.#deliverLocal(app, channel, frame, exceptSocketId);
  }

  #deliverLocal(app: App, channel: string, frame: string, exceptSocketId: string | undefined): number {
    const subscribers = this.state(app).channels.get(channel)?.subscribers ?? 0;
    if (subscribers === 0) return 0;
    const topic = topicOf(app.id, channel);
    const except = exceptSocketId === undefined ? undefined : this.connections.get(exceptSocketId);
    let deliveries = subscribers;
    if (except !== undefined && except.app.id === app.id && except.channels.has(channel)) {
      except.socket.publishFromSelf(topic, frame);
      deliveries--;
    } else {
      this.deps.hub.publish(topic, frame);
    }
    if (deliveries > 0) this.deps.observer.delivered(app, deliveries, frame.length);
    return deliveries;
  }

  /** Sends an internal frame to every local subscriber of a channel (member_added, subscription_count, …). */
  broadcast(app: App, channel: string, frame: string, from?: Connection): void {
    const subscribers = this.state(app).channels.get(channel)?.subscribers ?? 0;
    const topic = topicOf(app.id, channel);
    const recipients = from !== undefined && from.channels.has(channel) ? subscribers - 1 : subscribers;
    if (recipients <= 0) return;
    if (recipients < subscribers) from?.socket.publishFromSelf(topic, frame);
    else this.deps.hub.publish(topic, frame);
    this.deps.observer.delivered(app, recipients, frame.length);
  }

  /** As `broadcast`, to the channel's subscribers on every node. */
  broadcastCluster(app: App, channel: string, frame: string, from?: Connection): void {
    this.deps.cluster.broker.publish(app, channel, frame, from?.socketId);
    this.broadcast(app, channel, frame, from);
  }

  /** Closes every connection of `userId` on every node (REST terminate_connections). */
  terminateUser(app: App, userId: string): void {
    this.deps.cluster.broker.terminateUser(app, userId);
  }

  // ── what other nodes ask of this one (through the adapter) ─────────────────────────

  /** The adapter's way into this core. */
  sink(): ClusterSink {
    return {
      deliver: (appId, channel, frame, except) => this.deliver(appId, channel, frame, except),
      terminateUser: (appId, userId) => this.terminateUserLocal(appId, userId),
      userPresence: (appId, userId, online) => this.userPresence(appId, userId, online),
      transition: (t) => this.transition(t),
    };
  }

  deliver(appId: string, channel: string, frame: string, exceptSocketId: string | undefined): void {
    const app = this.deps.apps.byId(appId);
    if (app !== undefined) this.#deliverLocal(app, channel, frame, exceptSocketId);
  }

  /** Closes this node's connections signed in as `userId` with 4009 (protocol/README.md). */
  terminateUserLocal(appId: string, userId: string): void {
    const app = this.deps.apps.byId(appId);
    if (app === undefined) return;
    for (const conn of [...(this.state(app).users.get(userId) ?? [])]) {
      this.kick(conn, Codes.UNAUTHORIZED_CONNECTION, 'terminated by the application');
    }
  }

  userPresence(appId: string, userId: string, online: boolean): void {
    const app = this.deps.apps.byId(appId);
    if (app !== undefined) notifyWatchers(this, app, userId, online ? 'online' : 'offline');
  }

  /** A cluster-level change found by the adapter itself (a dead node reaped, a resync). */
  transition(t: Transition): void {
    const app = this.deps.apps.byId(t.appId);
    if (app === undefined) return;
    const o = this.deps.observer;
    switch (t.kind) {
      case 'occupied':
        return o.channelOccupied(app, t.channel);
      case 'vacated':
        return o.channelVacated(app, t.channel);
      case 'member_added':
        this.broadcastCluster(app, t.channel, memberAdded(t.channel, t.userId, t.info));
        return o.memberAdded(app, t.channel, t.userId);
      case 'member_removed':
        this.broadcastCluster(app, t.channel, memberRemoved(t.channel, t.userId));
        return o.memberRemoved(app, t.channel, t.userId);
      case 'user_online':
      case 'user_offline':
        return notifyWatchers(this, app, t.userId, t.kind === 'user_online' ? 'online' : 'offline');
    }
  }

  /** Logs an adapter failure once per call site; the local answer has already been used. */
  adapterFailed(err: unknown): void {
    this.deps.logger.error({ err }, 'adapter call failed');
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
}
