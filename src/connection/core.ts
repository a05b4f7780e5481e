/**
 * The transport-free protocol core, composed of two units: the connection lifecycle
 * (lifecycle.ts: handshake rules, admission, open/close, liveness) and the channel broker
 * (broker.ts: channel state and fan-out), with the frame handlers between them (dispatch.ts).
 * Each side sees it through a narrow interface: transports through ConnectionEntry, REST
 * through Publisher and UserTermination, the cluster through its sink, the handlers through
 * CoreContext. Its dependencies stay private.
 */
import type { Cluster, ClusterSink, Transition } from '../adapter/cluster.js';
import type { App, AppRegistry } from '../apps/registry.js';
import type { Logger } from '../log.js';
import type { MessageMeter } from '../quota/meter.js';
import type { ChannelStates } from '../channels/state.js';
import type { AddressLimits } from '../quota/per-address.js';
import { Codes, type PusherCode } from '../wire/codes.js';
import { memberAdded, memberRemoved } from '../wire/frames.js';
import { ChannelBroker, type AppStats } from './broker.js';
import type { Connection } from './connection.js';
import type { Clock, CoreContext } from './context.js';
import { cleanup, dispatch } from './dispatch.js';
import type { Handshake } from './handshake.js';
import { ConnectionLifecycle, type LifecycleSettings } from './lifecycle.js';
import type { CoreObserver } from './observer.js';
import type { SocketPort, TopicHub } from './ports.js';
import { notifyWatchers } from './signin.js';

export interface CoreDeps {
  readonly settings: LifecycleSettings;
  /** This node's channel state per app (shared with the local cluster, which counts from it). */
  readonly states: ChannelStates;
  readonly apps: AppRegistry;
  readonly hub: TopicHub;
  /** The cluster: this node alone (local) or several nodes sharing Redis (adapter/cluster.ts). */
  readonly cluster: Cluster;
  readonly observer: Required<CoreObserver>;
  readonly meter: MessageMeter;
  readonly logger: Logger;
  readonly clock: Clock;
  /** Per-address connection and public-subscription limits (issue 11). */
  readonly addresses: AddressLimits;
  /** Refuses new connections server-wide when it returns a code (memory shedding: 4100). */
  readonly admissionGate?: () => PusherCode | undefined;
}

/** What a transport calls: everything it knows about a connection goes through these four. */
export interface ConnectionEntry {
  /** A new connection; undefined when it was refused at once (the port got the code). */
  connect(hs: Handshake, port: SocketPort): Connection | undefined;
  /** One inbound text frame. */
  message(conn: Connection, text: string): void;
  /** A sign of life that is not a frame (a WebSocket pong, an HTTP poll). */
  activity(conn: Connection): void;
  /** The transport's connection is gone, whoever closed it. */
  closed(conn: Connection, code?: number): void;
}

/** What REST publishes through. */
export interface Publisher {
  /** One event to one channel on every node; returns this node's deliveries. */
  publish(app: App, channel: string, event: string, data: string, exceptSocketId?: string): number;
}

export interface UserTermination {
  /** Closes every connection signed in as `userId`, on every node. */
  terminateUser(app: App, userId: string): void;
}

/** What operations (reload, shutdown) do to live connections. */
export interface ConnectionControl {
  openConnections(): IterableIterator<Connection>;
  /** The open connection with this socket id on this node. */
  connection(socketId: string): Connection | undefined;
  readonly connectionCount: number;
  kick(conn: Connection, code: PusherCode, detail?: string): void;
  kickAll(code: PusherCode): number;
  stopAccepting(): void;
}

export class Core implements ConnectionEntry, Publisher, UserTermination, ConnectionControl {
  readonly #deps: CoreDeps;
  readonly #broker: ChannelBroker;
  readonly #lifecycle: ConnectionLifecycle;
  readonly #ctx: CoreContext;

  constructor(deps: CoreDeps) {
    this.#deps = deps;
    const { cluster, observer, clock } = deps;
    // The broker looks up a REST-excluded socket among the open connections (called after construction).
    this.#broker = new ChannelBroker({ states: deps.states, hub: deps.hub, cluster, observer, now: () => clock.now(), connection: (id) => this.#lifecycle.connections.get(id) });
    this.#ctx = {
      cluster,
      observer,
      meter: deps.meter,
      addresses: deps.addresses,
      clock,
      state: (app) => this.#broker.state(app),
      broadcastCluster: (app, channel, frame, from) => this.#broker.broadcastCluster(app, channel, frame, from),
      clusterFailed: (err) => this.#clusterFailed(err),
    };
    this.#lifecycle = new ConnectionLifecycle({
      settings: deps.settings,
      apps: deps.apps,
      occupancy: cluster.occupancy,
      addresses: deps.addresses,
      observer,
      clock,
      state: this.#ctx.state,
      cleanup: (conn) => cleanup(this.#ctx, conn),
      clusterFailed: this.#ctx.clusterFailed,
      ...(deps.admissionGate ? { admissionGate: deps.admissionGate } : {}),
    });
  }

  // ── transports (ConnectionEntry) ──────────────────────────────────────────────────

  connect(hs: Handshake, port: SocketPort): Connection | undefined {
    return this.#lifecycle.connect(hs, port);
  }

  message(conn: Connection, text: string): void {
    if (conn.state !== 'open') return;
    this.#lifecycle.activity(conn);
    dispatch(this.#ctx, conn, text);
  }

  activity(conn: Connection): void {
    if (conn.state === 'open') this.#lifecycle.activity(conn);
  }

  closed(conn: Connection, code?: number): void {
    this.#lifecycle.closed(conn, code);
  }

  // ── operations (ConnectionControl) and lifecycle ──────────────────────────────────

  openConnections(): IterableIterator<Connection> {
    return this.#lifecycle.connections.values();
  }

  connection(socketId: string): Connection | undefined {
    return this.#lifecycle.connections.get(socketId);
  }

  get connectionCount(): number {
    return this.#lifecycle.connections.size;
  }

  kick(conn: Connection, code: PusherCode, detail?: string): void {
    this.#lifecycle.kick(conn, code, detail);
  }

  kickAll(code: PusherCode): number {
    return this.#lifecycle.kickAll(code);
  }

  stopAccepting(): void {
    this.#lifecycle.stopAccepting();
  }

  /** Starts the liveness sweep. */
  start(): void {
    this.#lifecycle.start();
  }

  stop(): void {
    this.#lifecycle.stop();
  }

  /** One liveness pass now (the sweep's work; tests drive it with a fake clock). */
  sweep(): void {
    this.#lifecycle.sweep();
  }

  /** This node's state for an app: counts for metrics and the local cluster's counters. */
  state(app: App): ReturnType<ChannelBroker['state']> {
    return this.#broker.state(app);
  }

  stats(app: App): AppStats {
    return this.#broker.stats(app);
  }

  // ── REST (Publisher, UserTermination) ─────────────────────────────────────────────

  publish(app: App, channel: string, event: string, data: string, exceptSocketId?: string): number {
    return this.#broker.publish(app, channel, event, data, exceptSocketId);
  }

  terminateUser(app: App, userId: string): void {
    this.#deps.cluster.broker.terminateUser(app, userId);
  }

  // ── what other nodes ask of this one (through the cluster) ─────────────────────────

  /** The cluster's way into this core. */
  sink(): ClusterSink {
    return {
      deliver: (appId, channel, frame, except) => {
        const app = this.#deps.apps.byId(appId);
        if (app !== undefined) this.#broker.deliver(app, channel, frame, except);
      },
      terminateUser: (appId, userId) => this.#terminateLocal(appId, userId),
      userPresence: (appId, userId, online) => {
        const app = this.#deps.apps.byId(appId);
        if (app !== undefined) notifyWatchers(this.#ctx, app, userId, online ? 'online' : 'offline');
      },
      transition: (t) => this.#transition(t),
    };
  }

  /** Closes this node's connections signed in as `userId` with 4009 (protocol/README.md). */
  #terminateLocal(appId: string, userId: string): void {
    const app = this.#deps.apps.byId(appId);
    if (app === undefined) return;
    for (const conn of [...(this.#broker.state(app).users.get(userId) ?? [])]) {
      this.#lifecycle.kick(conn, Codes.UNAUTHORIZED_CONNECTION, 'terminated by the application');
    }
  }

  /** A cluster-level change found by the cluster itself (a dead node reaped, a resync). */
  #transition(t: Transition): void {
    const app = this.#deps.apps.byId(t.appId);
    if (app === undefined) return;
    const o = this.#deps.observer;
    switch (t.kind) {
      case 'occupied':
        return o.channelOccupied(app, t.channel);
      case 'vacated':
        return o.channelVacated(app, t.channel);
      case 'member_added':
        this.#broker.broadcastCluster(app, t.channel, memberAdded(t.channel, t.userId, t.info));
        return o.memberAdded(app, t.channel, t.userId);
      case 'member_removed':
        this.#broker.broadcastCluster(app, t.channel, memberRemoved(t.channel, t.userId));
        return o.memberRemoved(app, t.channel, t.userId);
      case 'user_online':
      case 'user_offline':
        return notifyWatchers(this.#ctx, app, t.userId, t.kind === 'user_online' ? 'online' : 'offline');
    }
  }

  /** Logs a cluster failure once per call site; the local answer has already been used. */
  #clusterFailed(err: unknown): void {
    this.#deps.logger.error({ err }, 'cluster call failed');
  }
}
