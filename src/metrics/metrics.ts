/**
 * Herald's Prometheus metrics on their own prom-client registry (no global state). The
 * per-message counters cost one Map lookup and two additions per publish or inbound frame
 * (never per recipient: deliveries arrive as one count); they are copied into prom-client
 * at scrape time, together with the gauges computed from live state (connections, channels,
 * subscriptions, quota). Per-app labels use the app id. README.md § Operations lists them all.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { App } from '../apps/registry.js';
import type { AddressLimit, CoreObserver } from '../connection/observer.js';
import type { WebhookStatsSnapshot } from '../webhooks/stats.js';
import { Codes } from '../wire/codes.js';

/** What the metrics read from the server at scrape time. */
export interface AppStats {
  readonly connections: number;
  readonly channels: number;
  readonly subscriptions: number;
}

export interface MetricsSource {
  apps(): Iterable<App>;
  /** Local state of one app; called once per app per scrape. */
  appStats(app: App): AppStats;
  quotaUsed(appId: string): number;
  ready(): boolean;
  memoryLimitBytes(): number;
  /** The webhook sender's counters (webhooks/stats.ts), read at scrape time. */
  webhooks(): WebhookStatsSnapshot;
}

/**
 * Close codes that get their own label value: the standard WebSocket codes and Herald's own
 * table. A client may close with any code in 3000–4999; those all count as "other", so the
 * label's values stay a small fixed set (issue 11, finding 8).
 */
const LABELLED_CLOSE_CODES = new Set<number>([
  ...Array.from({ length: 16 }, (_, i) => 1000 + i),
  ...Object.values(Codes).map((c) => c.code),
]);

export function closeCodeLabel(code: number | undefined): string {
  if (code === undefined) return 'none';
  return LABELLED_CLOSE_CODES.has(code) ? String(code) : 'other';
}

interface Tally {
  messagesIn: number;
  bytesIn: number;
  messagesOut: number;
  bytesOut: number;
  clientEvents: number;
}

type TallyField = keyof Tally;

export class HeraldMetrics implements CoreObserver {
  readonly registry = new Registry();
  readonly #tallies = new Map<string, Tally>();
  readonly #tallyCounters: ReadonlyArray<[Counter<'app'>, TallyField]>;
  readonly #opened: Counter<'app'>;
  readonly #closed: Counter<'app' | 'code'>;
  readonly #rest: Counter<'app' | 'endpoint' | 'status'>;
  readonly #authFailures: Counter<'app' | 'kind'>;
  readonly #webhookRequests: Counter<'app' | 'event' | 'outcome'>;
  readonly #webhookRetries: Counter<'app'>;
  readonly #webhookDropped: Counter<'app' | 'reason'>;
  readonly #webhookQueue: Gauge<'app'>;
  readonly #webhookHeld: Gauge;
  readonly #shed: Counter;
  readonly #faults: Counter<'callback'>;
  readonly #addressLimited: Counter<'app' | 'limit'>;
  readonly #reloads: Counter<'result'>;
  readonly #appGauges: ReadonlyArray<[Gauge<'app'>, (app: App, stats: AppStats) => number]>;
  readonly #ready: Gauge;
  readonly #memoryLimit: Gauge;

  constructor(
    readonly source: MetricsSource,
    version: string,
  ) {
    const r = this.registry;
    const counter = <L extends string>(name: string, help: string, labelNames: L[]): Counter<L> =>
      new Counter({ name, help, labelNames, registers: [r] });
    const gauge = <L extends string>(name: string, help: string, labelNames: L[]): Gauge<L> =>
      new Gauge({ name, help, labelNames, registers: [r] });

    this.#tallyCounters = [
      [counter('herald_ws_messages_received_total', 'WebSocket frames received from clients', ['app']), 'messagesIn'],
      [counter('herald_ws_bytes_received_total', 'Characters of WebSocket frames received from clients (bytes for ASCII JSON)', ['app']), 'bytesIn'],
      [counter('herald_ws_messages_sent_total', 'Events delivered to connections, one per recipient', ['app']), 'messagesOut'],
      [counter('herald_ws_bytes_sent_total', 'Characters of event frames delivered to connections (bytes for ASCII JSON)', ['app']), 'bytesOut'],
      [counter('herald_client_events_total', 'Client events accepted from connections', ['app']), 'clientEvents'],
    ];
    this.#opened = counter('herald_connections_opened_total', 'WebSocket connections opened (admitted)', ['app']);
    this.#closed = counter('herald_connections_closed_total', 'WebSocket connections closed, by close code', ['app', 'code']);
    this.#rest = counter('herald_rest_requests_total', 'HTTP API requests by endpoint and status', ['app', 'endpoint', 'status']);
    this.#authFailures = counter('herald_auth_failures_total', 'Failed channel, sign-in and REST authentications', ['app', 'kind']);
    this.#webhookRequests = counter('herald_webhook_requests_total', 'Webhook POSTs attempted, by event type in the body and outcome', ['app', 'event', 'outcome']);
    this.#webhookRetries = counter('herald_webhook_retries_total', 'Webhook requests scheduled for another attempt', ['app']);
    this.#webhookDropped = counter('herald_webhook_dropped_events_total', 'Webhook events given up (overflow, expired, unconfigured)', ['app', 'reason']);
    this.#webhookQueue = gauge('herald_webhook_queue_events', 'Webhook events waiting for delivery (ready, retrying or in flight)', ['app']);
    this.#webhookHeld = gauge('herald_webhook_held_events', 'channel_vacated/member_removed events held for the webhook delay', []);
    this.#shed = counter('herald_connections_shed_total', `New connections refused with ${Codes.OVER_CAPACITY.code} because memory was above memoryLimitBytes`, []);
    this.#faults = counter('herald_callback_faults_total', 'Exceptions stopped at a uWebSockets.js callback (the connection or request was ended, the process kept running)', ['callback']);
    this.#addressLimited = counter('herald_address_limited_total', 'Connections and public subscriptions refused by a per-address limit', ['app', 'limit']);
    this.#reloads = counter('herald_config_reloads_total', 'Config reloads, applied or refused', ['result']);
    this.#appGauges = [
      [gauge('herald_connections', 'Open WebSocket connections', ['app']), (_a, s) => s.connections],
      [gauge('herald_channels', 'Occupied channels', ['app']), (_a, s) => s.channels],
      [gauge('herald_subscriptions', 'Channel subscriptions (connection × channel)', ['app']), (_a, s) => s.subscriptions],
      [gauge('herald_quota_messages_used', 'Messages counted today (UTC) against the daily quota', ['app']), (a) => source.quotaUsed(a.id)],
      [gauge('herald_quota_messages_limit', 'Daily message quota (limits.maxMessagesPerDay)', ['app']), (a) => a.limits.maxMessagesPerDay],
      [gauge('herald_connections_limit', 'Per-app connection limit (limits.maxConnections)', ['app']), (a) => a.limits.maxConnections],
    ];
    this.#ready = gauge('herald_ready', '1 when the readiness check passes, else 0', []);
    this.#memoryLimit = gauge('herald_memory_limit_bytes', 'memoryLimitBytes (0 = off); compare process_resident_memory_bytes', []);
    gauge('herald_build_info', 'Always 1; the version label says which Herald runs', ['version']).set({ version }, 1);
    for (const [c] of this.#tallyCounters) c.reset();
    collectDefaultMetrics({ register: r });
  }

  /** The text exposition (Prometheus format 0.0.4), with scrape-time values filled in. */
  async metrics(): Promise<string> {
    this.#snapshot();
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  #snapshot(): void {
    for (const [c, field] of this.#tallyCounters) {
      c.reset();
      for (const [app, t] of this.#tallies) c.inc({ app }, t[field]);
    }
    const apps = [...this.source.apps()].map((app) => [app, this.source.appStats(app)] as const);
    for (const [g, read] of this.#appGauges) {
      g.reset();
      for (const [app, stats] of apps) g.set({ app: app.id }, read(app, stats));
    }
    this.#ready.set(this.source.ready() ? 1 : 0);
    this.#memoryLimit.set(this.source.memoryLimitBytes());
    this.#snapshotWebhooks(this.source.webhooks());
  }

  #snapshotWebhooks(w: WebhookStatsSnapshot): void {
    for (const m of [this.#webhookRequests, this.#webhookRetries, this.#webhookDropped, this.#webhookQueue]) m.reset();
    for (const r of w.requests) this.#webhookRequests.inc({ app: r.appId, event: r.event, outcome: r.outcome }, r.count);
    for (const r of w.retries) this.#webhookRetries.inc({ app: r.appId }, r.count);
    for (const d of w.dropped) this.#webhookDropped.inc({ app: d.appId, reason: d.reason }, d.events);
    for (const q of w.queue) this.#webhookQueue.set({ app: q.appId }, q.events);
    this.#webhookHeld.set(w.held);
  }

  #tally(appId: string): Tally {
    let t = this.#tallies.get(appId);
    if (t === undefined) {
      t = { messagesIn: 0, bytesIn: 0, messagesOut: 0, bytesOut: 0, clientEvents: 0 };
      this.#tallies.set(appId, t);
    }
    return t;
  }

  // CoreObserver: O(1), no per-recipient work.

  received(app: App, bytes: number): void {
    const t = this.#tally(app.id);
    t.messagesIn++;
    t.bytesIn += bytes;
  }

  delivered(app: App, messages: number, bytesEach: number): void {
    const t = this.#tally(app.id);
    t.messagesOut += messages;
    t.bytesOut += messages * bytesEach;
  }

  clientEvent(app: App): void {
    this.#tally(app.id).clientEvents++;
  }

  connectionOpened(app: App): void {
    this.#opened.inc({ app: app.id });
  }

  connectionClosed(app: App, code: number | undefined): void {
    this.#closed.inc({ app: app.id, code: closeCodeLabel(code) });
  }

  authFailed(app: App, what: 'channel' | 'signin' | 'rest'): void {
    this.#authFailures.inc({ app: app.id, kind: what });
  }

  // Hooks for the parts outside the core.

  /** RestDeps.onRequest: one call per HTTP API request; `route` is the endpoint name. */
  restRequest(app: App | undefined, route: string, status: number): void {
    this.#rest.inc({ app: app?.id ?? 'unknown', endpoint: route, status: String(status) });
  }

  addressLimited(app: App, limit: AddressLimit): void {
    this.#addressLimited.inc({ app: app.id, limit });
  }

  /** A uWS callback's exception, stopped at the edge (transport/uws.ts). */
  callbackFault(callback: string): void {
    this.#faults.inc({ callback });
  }

  connectionShed(): void {
    this.#shed.inc();
  }

  configReload(result: 'applied' | 'refused'): void {
    this.#reloads.inc({ result });
  }
}
