/**
 * A network-free Herald for the fuzz tests: a real Core and RestApi wired as src/server.ts
 * wires them (local cluster, DailyMeter, AddressLimits, REST rate limit), an injected clock,
 * fake sockets that record every frame, and an observer that checks the core's hooks stay
 * balanced. Nothing here is a test; the *.test.ts files use it.
 */
import { ChannelStates } from '../../src/channels/state.js';
import { FakeClock } from '../helpers/clock.js';
import { createHash, createHmac } from 'node:crypto';
import { pino } from 'pino';
import type { Cluster } from '../../src/adapter/cluster.js';
import { createCluster } from '../../src/adapter/create.js';
import { AppRegistry, type App } from '../../src/apps/registry.js';
import { parseConfig, type HeraldConfig } from '../../src/config/config.js';
import type { Connection } from '../../src/connection/connection.js';
import { Core } from '../../src/connection/core.js';
import { combineObservers, type CoreObserver } from '../../src/connection/observer.js';
import { topicOf, type SocketPort } from '../../src/connection/ports.js';
import { LogObserver } from '../../src/ops/logs.js';
import { DailyMeter } from '../../src/quota/daily.js';
import { AddressLimits } from '../../src/quota/per-address.js';
import { RateLimiter, restRateLimit } from '../../src/quota/rate.js';
import { RestApi } from '../../src/rest/router.js';

export const SECRETS = {
  fuzz: 'fuzz-secret-0123456789abcdef',
  strict: 'strict-secret-0123456789abcdef',
  slow: 'slow-secret-0123456789abcdef',
  off: 'off-secret-0123456789abcdef',
  spent: 'spent-secret-0123456789abcdef',
} as const;

/** Small limits so that fuzzing reaches every limit path within a few dozen frames. */
export const RAW_CONFIG = {
  logLevel: 'silent',
  metricsEnabled: false,
  maxConnections: 40,
  ipPublicSubscribesPerSec: 1,
  ipPublicSubscribeBurst: 6,
  apps: [
    {
      id: 'fuzz-app',
      key: 'fuzz-key',
      secret: SECRETS.fuzz,
      enableClientEvents: true,
      enableSubscriptionCount: true,
      enableWatchlist: true,
      cacheTtlSec: 60,
      limits: {
        maxPresenceMembers: 2,
        maxChannelsPerConnection: 6,
        maxClientEventsPerSec: 3,
        maxWatchlistSize: 2,
        maxPayloadBytes: 256,
        maxUserIdLength: 12,
        maxPresenceUserInfoBytes: 64,
        maxChannelNameLength: 40,
        maxEventNameLength: 40,
        maxBatchSize: 3,
        maxChannelsPerTrigger: 4,
      },
    },
    {
      id: 'strict-app',
      key: 'strict-key',
      secret: SECRETS.strict,
      enableClientEvents: true,
      enableWatchlist: true,
      requireAuthorizedConnections: true,
      authorizedConnectionTimeoutSec: 5,
    },
    { id: 'slow-app', key: 'slow-key', secret: SECRETS.slow, limits: { maxRestRequestsPerSec: 1 } },
    { id: 'off-app', key: 'off-key', secret: SECRETS.off, enabled: false },
    { id: 'spent-app', key: 'spent-key', secret: SECRETS.spent, limits: { maxMessagesPerDay: 0 } },
  ],
};

export const CONFIG: HeraldConfig = parseConfig(RAW_CONFIG, 'fuzz');

/** A fixed start instant (mid-day UTC, so no quota day rolls over by accident). */
export const T0 = Date.UTC(2030, 0, 15, 12, 0, 0);

export function hmacHex(secret: string, text: string): string {
  return createHmac('sha256', secret).update(text, 'utf8').digest('hex');
}

export function md5Hex(body: Uint8Array): string {
  return createHash('md5').update(body).digest('hex');
}

/** "<key>:<hex hmac>" as an app's auth endpoint signs socket auth. */
export function socketAuth(app: App, text: string): string {
  return `${app.key}:${hmacHex(app.secret, text)}`;
}

/** What is wrong with a frame the server sent, or undefined when it is a well-formed Pusher frame. */
export function frameProblem(frame: string): string | undefined {
  let v: unknown;
  try {
    v = JSON.parse(frame);
  } catch {
    return 'is not JSON';
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'is not a JSON object';
  const f = v as Record<string, unknown>;
  if (typeof f.event !== 'string' || f.event.length === 0) return 'has no "event" string';
  if (f.channel !== undefined && typeof f.channel !== 'string') return 'has a non-string "channel"';
  if (f.event === 'pusher:error') {
    const d = f.data as Record<string, unknown> | null;
    if (typeof d !== 'object' || d === null || typeof d.message !== 'string') return 'is a pusher:error without {message}';
    if (d.code !== null && typeof d.code !== 'number') return 'is a pusher:error whose code is neither null nor a number';
    return undefined;
  }
  if (f.event.startsWith('pusher:') || f.event.startsWith('pusher_internal:')) {
    // Server frames carry `data` as a JSON string (protocol §0).
    if (f.data === undefined) return undefined;
    if (typeof f.data !== 'string') return `is ${f.event} with non-string data`;
    try {
      JSON.parse(f.data);
    } catch {
      return `is ${f.event} whose data string is not JSON`;
    }
  }
  return undefined;
}

/** A socket that records what the core does to it. */
export class FakePort implements SocketPort {
  readonly sent: string[] = [];
  readonly closes: Array<{ code: number; reason: string }> = [];
  readonly topics = new Set<string>();
  /** Frames checked so far (by `World.checkFrames`). */
  checked = 0;

  constructor(readonly world: World) {}

  send(frame: string): boolean {
    this.sent.push(frame);
    return true;
  }

  close(code: number, reason: string): void {
    this.closes.push({ code, reason });
  }

  subscribe(topic: string): void {
    this.topics.add(topic);
  }

  unsubscribe(topic: string): void {
    this.topics.delete(topic);
  }

  publishFromSelf(topic: string, frame: string): void {
    if (!this.topics.has(topic)) this.world.violations.push(`publishFromSelf on ${topic}, which this socket is not subscribed to`);
    this.world.hubFrames.push(frame);
  }
}

/**
 * Checks the core's hooks are balanced: a channel is occupied then vacated (never twice in a
 * row), a member added then removed; counts are never negative. Webhooks depend on this.
 */
class BalanceObserver implements CoreObserver {
  readonly occupied = new Set<string>();
  readonly members = new Set<string>();

  constructor(readonly violations: string[]) {}

  channelOccupied(app: App, channel: string): void {
    const k = `${app.id}\u0000${channel}`;
    if (this.occupied.has(k)) this.violations.push(`channelOccupied twice for ${app.id} ${channel}`);
    this.occupied.add(k);
  }

  channelVacated(app: App, channel: string): void {
    const k = `${app.id}\u0000${channel}`;
    if (!this.occupied.delete(k)) this.violations.push(`channelVacated for ${app.id} ${channel}, which was not occupied`);
  }

  memberAdded(app: App, channel: string, userId: string): void {
    const k = `${app.id}\u0000${channel}\u0000${userId}`;
    if (this.members.has(k)) this.violations.push(`memberAdded twice for ${k}`);
    this.members.add(k);
  }

  memberRemoved(app: App, channel: string, userId: string): void {
    const k = `${app.id}\u0000${channel}\u0000${userId}`;
    if (!this.members.delete(k)) this.violations.push(`memberRemoved for ${k}, which was not added`);
  }

  subscriptionCount(app: App, channel: string, count: number): void {
    if (!Number.isSafeInteger(count) || count < 0) this.violations.push(`subscriptionCount ${count} for ${app.id} ${channel}`);
  }

  delivered(app: App, messages: number, bytesEach: number): void {
    if (!(messages > 0) || !(bytesEach > 0)) this.violations.push(`delivered(${messages}, ${bytesEach}) for ${app.id}`);
  }
}

export interface OpenConn {
  readonly conn: Connection;
  readonly port: FakePort;
}

export class World {
  readonly clock = new FakeClock(T0);
  readonly now = this.clock.now;
  readonly config = CONFIG;
  readonly apps = new AppRegistry(CONFIG.apps);
  readonly violations: string[] = [];
  /** Error-level log lines (a handler failure or an adapter failure is logged at error). */
  readonly errorLogs: string[] = [];
  readonly hubFrames: string[] = [];
  hubChecked = 0;
  readonly logger = pino({ level: 'error' }, { write: (line: string) => void this.errorLogs.push(line) });
  readonly meter = new DailyMeter(this.now, () => {});
  readonly states = new ChannelStates();
  readonly cluster: Cluster = createCluster(CONFIG.adapter, this.logger, this.now, (app) => this.states.state(app.id));
  readonly addresses = new AddressLimits(() => this.config, this.now);
  readonly balance = new BalanceObserver(this.violations);
  readonly core: Core;
  readonly rest: RestApi;
  /** Every connection ever opened, in order. */
  readonly conns: OpenConn[] = [];
  /** (app, route, status) of every REST answer, from the router's onRequest hook. */
  readonly restLog: Array<{ app: string | undefined; route: string; status: number }> = [];

  constructor() {
    this.core = new Core({
      settings: CONFIG,
      states: this.states,
      apps: this.apps,
      hub: { publish: (_topic, frame) => void this.hubFrames.push(frame) },
      cluster: this.cluster,
      observer: combineObservers([this.meter, new LogObserver(this.logger, this.now), this.balance]),
      meter: this.meter,
      logger: this.logger,
      clock: this.clock,
      addresses: this.addresses,
    });
    void this.cluster.start(this.core.sink()); // the local cluster keeps the sink synchronously
    const cluster = this.cluster;
    this.rest = new RestApi({
      publisher: this.core,
      users: this.core,
      channels: { occupancy: cluster.occupancy, presence: cluster.presence, cache: cluster.cache, now: this.now },
      clusterHealthy: () => cluster.healthy(),
      authFailed: () => {},
      apps: this.apps,
      meter: this.meter,
      logger: this.logger,
      now: this.now,
      rateLimit: restRateLimit(new RateLimiter(this.now), () => this.cluster.nodeCount()),
      onRequest: (app, route, status) => void this.restLog.push({ app: app?.id, route, status }),
    });
  }

  app(id: string): App {
    const app = this.apps.byId(id);
    if (app === undefined) throw new Error(`no app ${id}`);
    return app;
  }

  /** Connects as the transport does; undefined when the handshake or admission refuses it. */
  open(app: App, address = '10.0.0.1'): OpenConn | undefined {
    const port = new FakePort(this);
    const conn = this.core.connect({ appKey: encodeURIComponent(app.key), query: 'protocol=7&client=js&version=8.6.0', address }, port);
    if (conn === undefined) return undefined;
    if (conn.state !== 'open') throw new Error('the local cluster left a connection pending');
    const oc = { conn, port };
    this.conns.push(oc);
    return oc;
  }

  /** What the transport does after the core closed a socket: reports it gone. */
  settleCloses(): void {
    for (const { conn, port } of this.conns) {
      const last = port.closes[port.closes.length - 1];
      if (last !== undefined && conn.state === 'open') this.core.closed(conn, last.code);
    }
  }

  /** Every frame sent since the last call, to sockets and through the hub, must be well formed. */
  checkFrames(): void {
    for (const { port } of this.conns) {
      for (; port.checked < port.sent.length; port.checked++) {
        const frame = port.sent[port.checked] as string;
        const problem = frameProblem(frame);
        if (problem !== undefined) this.violations.push(`socket frame ${problem}: ${frame.slice(0, 300)}`);
      }
    }
    for (; this.hubChecked < this.hubFrames.length; this.hubChecked++) {
      const frame = this.hubFrames[this.hubChecked] as string;
      const problem = frameProblem(frame);
      if (problem !== undefined) this.violations.push(`hub frame ${problem}: ${frame.slice(0, 300)}`);
    }
  }

  /**
   * The core's bookkeeping agrees with its connections: counts, channel subscribers, socket
   * topics, signed-in users and watchers are exactly what the open connections hold.
   */
  checkConsistency(): void {
    const open = this.conns.filter((c) => c.conn.state === 'open');
    if (this.core.connectionCount !== open.length) this.violations.push(`core.connections.size ${this.core.connectionCount} != ${open.length} open`);
    for (const app of this.apps.all()) {
      const mine = open.filter((c) => c.conn.app.id === app.id);
      const state = this.core.state(app);
      if (state.connections !== mine.length) this.violations.push(`${app.id}: state.connections ${state.connections} != ${mine.length} open`);
      const subs = new Map<string, number>();
      const users = new Map<string, Set<Connection>>();
      const watchers = new Map<string, Set<Connection>>();
      for (const { conn, port } of mine) {
        for (const ch of conn.channels.keys()) subs.set(ch, (subs.get(ch) ?? 0) + 1);
        const topics = new Set([...conn.channels.keys()].map((ch) => topicOf(app.id, ch)));
        if (topics.size !== port.topics.size || [...topics].some((t) => !port.topics.has(t))) {
          this.violations.push(`${conn.socketId}: socket topics [${[...port.topics].join(', ')}] != channels [${[...topics].join(', ')}]`);
        }
        if (conn.user !== undefined) {
          const u = users.get(conn.user.id) ?? new Set();
          u.add(conn);
          users.set(conn.user.id, u);
          for (const id of conn.user.watchlist) {
            const w = watchers.get(id) ?? new Set();
            w.add(conn);
            watchers.set(id, w);
          }
        }
      }
      const names = new Set([...subs.keys(), ...state.channels.keys()]);
      for (const ch of names) {
        const want = subs.get(ch) ?? 0;
        const got = state.channels.get(ch)?.subscribers ?? 0;
        if (want !== got || (want === 0 && state.channels.has(ch))) this.violations.push(`${app.id} ${ch}: ${got} subscribers recorded, ${want} connections hold it`);
      }
      if (!sameSetMap(users, state.users)) this.violations.push(`${app.id}: signed-in users differ from the open connections' users`);
      if (!sameSetMap(watchers, state.watchers)) this.violations.push(`${app.id}: watchers differ from the open connections' watchlists`);
    }
  }

  /** After every connection closed: nothing is left anywhere (the state is back at its baseline). */
  checkBaseline(userIds: readonly string[], channels: readonly string[]): void {
    if (this.core.connectionCount !== 0) this.violations.push(`core.connections.size is ${this.core.connectionCount} after closing all`);
    for (const app of this.apps.all()) {
      const s = this.core.state(app);
      if (s.channels.size !== 0) this.violations.push(`${app.id}: channels left after closing all: ${[...s.channels.keys()].join(', ')}`);
      if (s.connections !== 0) this.violations.push(`${app.id}: state.connections is ${s.connections} after closing all`);
      if (s.users.size !== 0) this.violations.push(`${app.id}: users left: ${[...s.users.keys()].join(', ')}`);
      if (s.watchers.size !== 0) this.violations.push(`${app.id}: watchers left: ${[...s.watchers.keys()].join(', ')}`);
      const clusterChannels = this.cluster.occupancy.channels(app);
      if (clusterChannels instanceof Promise || clusterChannels.size !== 0) this.violations.push(`${app.id}: the cluster still counts subscriptions`);
      for (const ch of channels) {
        const members = this.cluster.presence.members(app, ch);
        if (members instanceof Promise || members.length !== 0) this.violations.push(`${app.id} ${ch}: the cluster still lists members`);
      }
      const online = this.cluster.presence.onlineUsers(app, userIds);
      if (online instanceof Promise || online.size !== 0) this.violations.push(`${app.id}: the cluster still has users online`);
      const slot = this.cluster.occupancy.reserveConnection(app, 1);
      if (slot !== true) this.violations.push(`${app.id}: the cluster still counts connections`);
      else this.cluster.occupancy.releaseConnection(app);
    }
    if (this.balance.occupied.size !== 0) this.violations.push(`channels occupied but never vacated: ${[...this.balance.occupied].join(', ')}`);
    if (this.balance.members.size !== 0) this.violations.push(`members added but never removed: ${[...this.balance.members].join(', ')}`);
    this.clock.advance(3_600_000);
    this.addresses.sweep();
    if (this.addresses.size !== 0) this.violations.push(`per-address records still held (a connection count leaked): ${this.addresses.size}`);
  }
}

function sameSetMap<K, V>(a: ReadonlyMap<K, ReadonlySet<V>>, b: ReadonlyMap<K, ReadonlySet<V>>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, set] of a) {
    const other = b.get(k);
    if (other === undefined || other.size !== set.size || [...set].some((v) => !other.has(v))) return false;
  }
  return true;
}
