/**
 * The fuzz tests' Herald: the core harness (test/helpers/core.ts: a real Core and RestApi wired
 * as src/server.ts wires them, fake sockets on a fake topic hub, a fake clock) with small limits,
 * an observer that checks the core's hooks stay balanced, and checks of every frame sent and of
 * the core's books. Nothing here is a test; the *.test.ts files use it.
 */
import { createHash } from 'node:crypto';
import type { App } from '../../src/apps/registry.js';
import { parseConfig, type HeraldConfig } from '../../src/config/config.js';
import type { Connection } from '../../src/connection/connection.js';
import type { CoreObserver } from '../../src/connection/observer.js';
import { topicOf } from '../../src/connection/ports.js';
import { CoreHarness, hmacHex, socketAuth } from '../helpers/core.js';
import type { FakePort } from '../helpers/fake-socket.js';

export { hmacHex, socketAuth };

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

export function md5Hex(body: Uint8Array): string {
  return createHash('md5').update(body).digest('hex');
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

export class World extends CoreHarness {
  readonly violations: string[];
  readonly balance: BalanceObserver;
  /** Every connection ever opened, in order. */
  readonly conns: OpenConn[] = [];
  /** (app, route, status) of every REST answer, from the router's onRequest hook. */
  readonly restLog: Array<{ app: string | undefined; route: string; status: number }>;
  /** How many of each socket's delivered and late frames `checkFrames` has seen. */
  readonly #checked = new Map<FakePort, { inbox: number; late: number }>();
  #hubChecked = 0;

  constructor() {
    const violations: string[] = [];
    const balance = new BalanceObserver(violations);
    const restLog: World['restLog'] = [];
    super(CONFIG, { observers: [balance], onRequest: (app, route, status) => void restLog.push({ app: app?.id, route, status }) });
    this.violations = violations;
    this.balance = balance;
    this.restLog = restLog;
  }

  /** Connects as the transport does; undefined when the handshake or admission refuses it. */
  open(app: App, address = '10.0.0.1'): OpenConn | undefined {
    const { conn, port } = this.handshake({ key: encodeURIComponent(app.key), query: 'protocol=7&client=js&version=8.6.0', address });
    if (conn === undefined) return undefined;
    if (conn.state !== 'open') throw new Error('the local cluster left a connection pending');
    const oc = { conn, port };
    this.conns.push(oc);
    return oc;
  }

  /** Every client goes away (closes its socket); the transport reports each close to the core. */
  closeAll(code = 1000): void {
    for (const { port } of this.conns) port.disconnect(code);
  }

  /**
   * Every frame since the last call, delivered to sockets, sent to closed ones, or published
   * through the hub, must be well formed; the hub's own contract checks join the violations.
   */
  checkFrames(): void {
    const check = (where: string, frame: string): void => {
      const problem = frameProblem(frame);
      if (problem !== undefined) this.violations.push(`${where} frame ${problem}: ${frame.slice(0, 300)}`);
    };
    for (const { port } of this.conns) {
      const seen = this.#checked.get(port) ?? { inbox: 0, late: 0 };
      for (const frame of port.inbox.slice(seen.inbox)) check('socket', frame);
      for (const frame of port.late.slice(seen.late)) check('closed socket', frame);
      this.#checked.set(port, { inbox: port.inbox.length, late: port.late.length });
    }
    const published = this.hub.published;
    for (; this.#hubChecked < published.length; this.#hubChecked++) check('hub', published[this.#hubChecked] as string);
    this.violations.push(...this.hub.violations.splice(0));
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
