/**
 * A network-free Herald for the middle test tier: the real Core and RestApi wired as
 * src/server.ts wires them (local cluster, DailyMeter, LogObserver, AddressLimits, REST rate
 * limit), time from a FakeClock, and clients on fake sockets joined by a fake topic hub
 * (fake-socket.ts), so a test reads each client's inbox as a real client would. The local
 * cluster answers synchronously: once `core.message` or `rest.handle` returns, every frame it
 * causes is in the inboxes. Used by test/core, the core driver of test/protocol/exchanges.test.ts
 * and the fuzz world (test/fuzz/world.ts).
 */
import { createHash, createHmac } from 'node:crypto';
import { pino } from 'pino';
import type { Cluster } from '../../src/adapter/cluster.js';
import { createCluster } from '../../src/adapter/create.js';
import { AppRegistry, type App } from '../../src/apps/registry.js';
import { parseQuery, restStringToSign } from '../../src/auth/rest-auth.js';
import { ChannelStates } from '../../src/channels/state.js';
import { parseConfig, type HeraldConfig } from '../../src/config/config.js';
import type { Connection } from '../../src/connection/connection.js';
import { Core } from '../../src/connection/core.js';
import { combineObservers, type CoreObserver } from '../../src/connection/observer.js';
import { LogObserver } from '../../src/ops/logs.js';
import { DailyMeter } from '../../src/quota/daily.js';
import { AddressLimits } from '../../src/quota/per-address.js';
import { RateLimiter, restRateLimit } from '../../src/quota/rate.js';
import type { HttpResponse } from '../../src/rest/http.js';
import { RestApi } from '../../src/rest/router.js';
import { FakeClock } from './clock.js';
import { FakeHub, FakePort } from './fake-socket.js';
import { ONE_ADDRESS_MANY_USERS } from './limits.js';

/** A fixed start instant (mid-day UTC, so no quota day rolls over by accident). */
export const T0 = Date.UTC(2030, 0, 15, 12, 0, 0);
/** The query pusher-js 8.6 sends with its WebSocket handshake. */
export const CLIENT_QUERY = 'protocol=7&client=js&version=8.6.0&flash=false';

export function hmacHex(secret: string, text: string): string {
  return createHmac('sha256', secret).update(text, 'utf8').digest('hex');
}

/** "<key>:<hex hmac>" as an app's auth endpoint signs channel auth and sign-in (protocol §5). */
export function socketAuth(app: { key: string; secret: string }, text: string): string {
  return `${app.key}:${hmacHex(app.secret, text)}`;
}

/** A test config: quiet, no metrics, per-address limits lifted (limits.ts), `raw` on top. */
export function coreConfig(raw: Record<string, unknown>): HeraldConfig {
  return parseConfig({ logLevel: 'silent', metricsEnabled: false, ...ONE_ADDRESS_MANY_USERS, ...raw }, 'core harness');
}

/** The app the core tests use unless they name another. */
export const CORE_APP = { id: 'core-app', key: 'core-key', secret: 'core-secret-0123456789' } as const;

/** A harness with one app: CORE_APP with `app` settings on top, and `server` settings. */
export function coreWith(app: Record<string, unknown> = {}, server: Record<string, unknown> = {}, options?: HarnessOptions): CoreHarness {
  return new CoreHarness(coreConfig({ ...server, apps: [{ ...CORE_APP, ...app }] }), options);
}

export interface HarnessOptions {
  /** Extra observers beside the meter and the log observer (as the server adds webhooks and metrics). */
  readonly observers?: readonly CoreObserver[];
  /** The router's per-request hook. */
  readonly onRequest?: (app: App | undefined, route: string, status: number) => void;
  readonly startMs?: number;
}

export interface ConnectOptions {
  /** The app key as the URL carries it (default: the first app's key, percent-encoded). */
  readonly key?: string;
  readonly query?: string;
  readonly address?: string;
}

export class CoreHarness {
  readonly clock: FakeClock;
  readonly now: () => number;
  readonly apps: AppRegistry;
  readonly hub = new FakeHub();
  /** Error-level log lines (a handler fault or a cluster failure is logged at error). */
  readonly errorLogs: string[] = [];
  readonly logger = pino({ level: 'error' }, { write: (line: string) => void this.errorLogs.push(line) });
  readonly states = new ChannelStates();
  readonly meter: DailyMeter;
  readonly cluster: Cluster;
  readonly addresses: AddressLimits;
  readonly core: Core;
  readonly rest: RestApi;

  constructor(
    readonly config: HeraldConfig,
    options: HarnessOptions = {},
  ) {
    if (config.adapter.driver !== 'local') throw new Error('the core harness runs the local cluster only');
    this.clock = new FakeClock(options.startMs ?? T0);
    this.now = this.clock.now;
    this.apps = new AppRegistry(config.apps);
    this.meter = new DailyMeter(this.now, () => {});
    this.cluster = createCluster(config.adapter, this.logger, this.now, (app) => this.states.state(app.id));
    this.addresses = new AddressLimits(() => this.config, this.now);
    this.core = new Core({
      settings: config,
      states: this.states,
      apps: this.apps,
      hub: this.hub,
      cluster: this.cluster,
      observer: combineObservers([this.meter, new LogObserver(this.logger, this.now), ...(options.observers ?? [])]),
      meter: this.meter,
      logger: this.logger,
      clock: this.clock,
      addresses: this.addresses,
    });
    void this.cluster.start(this.core.sink()); // the local cluster takes the sink synchronously
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
      rateLimit: restRateLimit(new RateLimiter(this.now), () => cluster.nodeCount()),
      ...(options.onRequest ? { onRequest: options.onRequest } : {}),
    });
  }

  app(id?: string): App {
    const app = id === undefined ? this.config.apps[0] : this.apps.byId(id);
    if (app === undefined) throw new Error(`no app ${id ?? '(first)'}`);
    return app;
  }

  /**
   * What the transport does on a WebSocket open: hands (key, query, address) and a port to the
   * core, and reports the socket's close to it. `conn` is undefined when it was refused at once.
   */
  handshake(options: ConnectOptions = {}): { port: FakePort; conn: Connection | undefined } {
    const port = new FakePort(this.hub);
    const key = options.key ?? encodeURIComponent(this.app().key);
    const conn = this.core.connect({ appKey: key, query: options.query ?? CLIENT_QUERY, address: options.address ?? '10.0.0.1' }, port);
    if (conn !== undefined) port.onClose = (code) => this.core.closed(conn, code);
    return { port, conn };
  }

  /** A client whose connection is open; its connection_established frame has been read. */
  connect(options: ConnectOptions = {}): FakeClient {
    const { port, conn } = this.handshake(options);
    if (conn?.state !== 'open') throw new Error(`connection refused: ${port.inbox.join(' ')}`);
    const client = new FakeClient(this, port, conn);
    const established = client.next();
    if (established.event !== 'pusher:connection_established') throw new Error(`first frame was ${established.raw}`);
    return client;
  }

  /** A REST request signed as the Pusher SDKs sign it (protocol §7.3), at the fake clock's time. */
  async request(method: string, path: string, body?: unknown, app: App = this.app()): Promise<HttpResponse> {
    const text = body === undefined ? '' : JSON.stringify(body);
    const params: Array<[string, string]> = [
      ['auth_key', app.key],
      ['auth_timestamp', String(Math.floor(this.now() / 1000))],
      ['auth_version', '1.0'],
    ];
    if (text !== '') params.push(['body_md5', createHash('md5').update(text).digest('hex')]);
    const unsigned = params.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');
    const signature = hmacHex(app.secret, restStringToSign(method, path, parseQuery(unsigned)));
    return this.rest.handle({ method, path, rawQuery: `${unsigned}&auth_signature=${signature}`, body: Buffer.from(text) });
  }
}

/** A frame as a client reads it: `data` parsed when the server sent it as a JSON string. */
export interface Received {
  readonly event: string;
  readonly channel?: string;
  readonly data?: unknown;
  readonly user_id?: string;
  /** The frame exactly as sent. */
  readonly raw: string;
}

function parseFrame(raw: string): Received {
  const frame = JSON.parse(raw) as { event: string; channel?: string; data?: unknown; user_id?: string };
  if (typeof frame.data === 'string') {
    try {
      frame.data = JSON.parse(frame.data) as unknown;
    } catch {
      // a client event's data may be a plain string: it stays as sent
    }
  }
  return { ...frame, raw };
}

/** One client: what it sends goes through core.message; what it reads is its socket's inbox. */
export class FakeClient {
  #read = 0;

  constructor(
    readonly harness: CoreHarness,
    readonly port: FakePort,
    readonly conn: Connection,
  ) {}

  get socketId(): string {
    return this.conn.socketId;
  }

  send(frame: unknown): void {
    this.harness.core.message(this.conn, typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** The next frame not yet read; throws when there is none (everything arrives synchronously). */
  next(): Received {
    const raw = this.port.inbox[this.#read];
    if (raw === undefined) throw new Error(`no frame for ${this.socketId}; it has read all ${this.#read}`);
    this.#read++;
    return parseFrame(raw);
  }

  /** Every frame not yet read (and marks them read). */
  drain(): Received[] {
    const frames = this.port.inbox.slice(this.#read).map(parseFrame);
    this.#read = this.port.inbox.length;
    return frames;
  }

  /** Subscribes, signing private and presence channels as the app's auth endpoint would. */
  subscribe(channel: string, member?: { user_id: string; user_info?: unknown }): void {
    const data: Record<string, unknown> = { channel };
    if (member !== undefined) data.channel_data = JSON.stringify(member);
    if (/^(private|presence)-/.test(channel)) {
      const cd = data.channel_data === undefined ? '' : `:${data.channel_data as string}`;
      data.auth = socketAuth(this.conn.app, `${this.socketId}:${channel}${cd}`);
    }
    this.send({ event: 'pusher:subscribe', data });
  }

  unsubscribe(channel: string): void {
    this.send({ event: 'pusher:unsubscribe', data: { channel } });
  }

  /** pusher:signin with `user` signed as the app's user-authentication endpoint would. */
  signin(user: { id: string; user_info?: unknown; watchlist?: string[] }): void {
    const userData = JSON.stringify(user);
    this.send({ event: 'pusher:signin', data: { user_data: userData, auth: socketAuth(this.conn.app, `${this.socketId}::user::${userData}`) } });
  }

  /** The client closes its socket; the transport reports it to the core. */
  disconnect(code = 1000): void {
    this.port.disconnect(code);
  }
}
