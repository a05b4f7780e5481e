/**
 * The connection lifecycle every transport shares: a transport hands over (app key, query,
 * client address) and a port; the core applies the handshake rules (protocol version, app
 * lookup, app enabled, server capacity and memory shedding, per-address limits, the app's
 * connection quota), then sends pusher:connection_established or refuses with the Pusher code
 * (pusher:error, then close). It keeps the open connections, closes them with codes, and runs
 * the liveness sweep. What a connection does once open is the dispatcher's business.
 */
import { randomInt } from 'node:crypto';
import type { Occupancy } from '../adapter/occupancy.js';
import type { App, AppRegistry } from '../apps/registry.js';
import type { AppState } from '../channels/state.js';
import type { AddressLimits } from '../quota/per-address.js';
import { Codes, type PusherCode } from '../wire/codes.js';
import { connectionEstablished, errorFrame } from '../wire/frames.js';
import { Connection } from './connection.js';
import type { Clock } from './context.js';
import { findApp, type Handshake } from './handshake.js';
import { checkLiveness, sweepIntervalMs } from './liveness.js';
import type { CoreObserver } from './observer.js';
import type { SocketPort } from './ports.js';

export interface LifecycleSettings {
  readonly activityTimeoutSec: number;
  readonly pongTimeoutSec: number;
  readonly maxConnections: number;
}

export interface LifecycleDeps {
  readonly settings: LifecycleSettings;
  readonly apps: AppRegistry;
  readonly occupancy: Pick<Occupancy, 'reserveConnection' | 'releaseConnection'>;
  readonly addresses: AddressLimits;
  readonly observer: Required<CoreObserver>;
  readonly clock: Clock;
  readonly state: (app: App) => AppState;
  /** Undoes an open connection's subscriptions and sign-in (the dispatcher's cleanup). */
  readonly cleanup: (conn: Connection) => void;
  /** Refuses new connections server-wide when it returns a code (memory shedding: 4100). */
  readonly admissionGate?: () => PusherCode | undefined;
  /** A cluster call failed; the connection was refused with 4100. */
  readonly clusterFailed: (err: unknown) => void;
}

export class ConnectionLifecycle {
  /** Open connections by socket id. */
  readonly connections = new Map<string, Connection>();
  readonly #pendingIds = new Set<string>();
  #accepting = true;
  #stopSweep: (() => void) | undefined;

  constructor(readonly deps: LifecycleDeps) {}

  /**
   * A transport's new connection. Returns the connection (pending until the admission, which
   * may wait for the cluster, decides; then open, or closed with its code), or undefined when
   * it was refused at once. The transport reports every later frame and the close against it.
   */
  connect(hs: Handshake, port: SocketPort): Connection | undefined {
    const found = findApp(hs, this.deps.apps);
    if (!found.ok) {
      refuse(port, found.error.code, found.error.detail);
      return undefined;
    }
    const app = found.value;
    const conn = new Connection(this.#newSocketId(), app, port, this.deps.clock.now(), hs.address);
    this.#pendingIds.add(conn.socketId);
    const verdict = this.#admit(app, hs.address);
    if (verdict instanceof Promise) {
      verdict
        .then(
          (code) => this.#decided(conn, code),
          (err: unknown) => {
            this.deps.clusterFailed(err);
            this.#decided(conn, Codes.OVER_CAPACITY, false);
          },
        )
        .then(undefined, (err: unknown) => this.deps.clusterFailed(err)); // never an unhandled rejection
    } else {
      this.#decided(conn, verdict);
    }
    return conn.state === 'closed' ? undefined : conn;
  }

  /**
   * §3.1 codes 4003, 4200 (stopping), 4100 (capacity, memory), 4101/4102 per address, 4004.
   * No code means a slot is reserved, for `#decided` to use or give back. The per-address
   * limits come before the app's quota, so one address cannot fill it.
   */
  #admit(app: App, address: string): PusherCode | undefined | Promise<PusherCode | undefined> {
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
    const reserved = this.deps.occupancy.reserveConnection(app, app.limits.maxConnections);
    const verdict = (ok: boolean): PusherCode | undefined => {
      if (ok) return undefined;
      this.deps.addresses.disconnect(address);
      return Codes.OVER_CONNECTION_QUOTA;
    };
    if (!(reserved instanceof Promise)) return verdict(reserved);
    return reserved.then(verdict, (err: unknown) => {
      this.deps.addresses.disconnect(address);
      throw err;
    });
  }

  /** Opens an admitted connection or refuses it; a connection closed while waiting gives its slot back. */
  #decided(conn: Connection, code: PusherCode | undefined, reserved = code === undefined): void {
    this.#pendingIds.delete(conn.socketId);
    if (conn.state === 'closed') {
      if (reserved) this.#release(conn);
      return;
    }
    if (code !== undefined) {
      conn.state = 'closed';
      refuse(conn.socket, code, code.message);
      return;
    }
    const now = this.deps.clock.now();
    conn.state = 'open';
    conn.openedAtMs = now;
    conn.lastActivityMs = now;
    this.connections.set(conn.socketId, conn);
    this.deps.state(conn.app).connections++;
    conn.socket.send(connectionEstablished(conn.socketId, this.deps.settings.activityTimeoutSec));
    this.deps.observer.connectionOpened(conn.app);
  }

  #release(conn: Connection): void {
    this.deps.occupancy.releaseConnection(conn.app);
    this.deps.addresses.disconnect(conn.address);
  }

  #newSocketId(): string {
    for (;;) {
      const id = `${randomInt(1, 2 ** 31)}.${randomInt(1, 2 ** 31)}`;
      if (!this.connections.has(id) && !this.#pendingIds.has(id)) return id;
    }
  }

  /** A frame or WebSocket pong arrived: the connection is alive. */
  activity(conn: Connection): void {
    conn.lastActivityMs = this.deps.clock.now();
    conn.pingSentAtMs = 0;
  }

  /** Closes a connection with a Pusher code: pusher:error first, then the close frame (§3.1). */
  kick(conn: Connection, code: PusherCode, detail?: string): void {
    if (conn.state !== 'open') return;
    refuse(conn.socket, code, detail ? `${code.message}: ${detail}` : code.message);
  }

  /** The transport reports that the socket is gone (whoever closed it). Idempotent. */
  closed(conn: Connection, code?: number): void {
    const was = conn.state;
    conn.state = 'closed';
    if (was !== 'open') return; // pending: #decided gives the slot back when the admission ends
    this.connections.delete(conn.socketId);
    this.deps.state(conn.app).connections--;
    this.deps.cleanup(conn);
    this.#release(conn);
    this.deps.observer.connectionClosed(conn.app, code, conn.socketId);
  }

  /** Closes every open connection that `filter` selects (graceful shutdown, app removal) with `code`. */
  kickAll(code: PusherCode, filter: (conn: Connection) => boolean = () => true, detail?: string): number {
    let n = 0;
    for (const conn of [...this.connections.values()]) {
      if (filter(conn)) {
        this.kick(conn, code, detail);
        n++;
      }
    }
    return n;
  }

  /** New connections are refused with 4200 from now on (graceful shutdown). */
  stopAccepting(): void {
    this.#accepting = false;
  }

  /** Starts the liveness sweep (server pings, 4201, authorized-connection deadlines). */
  start(): void {
    const settings = this.deps.settings;
    const authorized = [...this.deps.apps.all()].filter((a) => a.requireAuthorizedConnections).map((a) => a.authorizedConnectionTimeoutSec);
    this.#stopSweep = this.deps.clock.every(sweepIntervalMs(settings, authorized), () => this.sweep());
  }

  /** One liveness pass (the sweep timer's work; tests call it with a fake clock). */
  sweep(): void {
    checkLiveness(this.connections.values(), this.deps.settings, this.deps.clock.now(), (conn, code, detail) => this.kick(conn, code, detail));
  }

  stop(): void {
    this.#stopSweep?.();
    this.#stopSweep = undefined;
  }
}

/** pusher:error with the code, then the close frame with the same code (§3.1, protocol/README.md). */
function refuse(port: SocketPort, code: PusherCode, message: string): void {
  port.send(errorFrame(code, message));
  port.close(code.code, message);
}
