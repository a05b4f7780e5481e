/**
 * The composition root: builds every part with explicit dependencies and owns the start/stop
 * lifecycle. Nothing else constructs components or holds module-level state.
 */
import { join } from 'node:path';
import { AppRegistry } from './apps/registry.js';
import type { HeraldConfig } from './config/config.js';
import type { Cluster } from './adapter/cluster.js';
import { createCluster } from './adapter/create.js';
import { Core } from './connection/core.js';
import { combineObservers, type CoreObserver } from './connection/observer.js';
import { createLogger, type Logger } from './log.js';
import { MetricsServer } from './metrics/http.js';
import { HeraldMetrics } from './metrics/metrics.js';
import { Health } from './ops/health.js';
import { LogObserver } from './ops/logs.js';
import { applyApps, mergeConfig, planReload, type ReloadPlan } from './ops/reload.js';
import { StateDirHandover } from './ops/handover.js';
import { InFlight, runShutdown, waitFor, waitUntil, type ShutdownResult } from './ops/shutdown.js';
import { checkTlsFiles } from './ops/tls.js';
import { heraldVersion } from './ops/version.js';
import { DailyMeter, logThresholds } from './quota/daily.js';
import { UsageStore } from './quota/persist.js';
import { ClusterUsage } from './quota/cluster-usage.js';
import { AddressLimits } from './quota/per-address.js';
import { RateLimiter, restRateLimit } from './quota/rate.js';
import { LogLimiter } from './ops/log-limit.js';
import { Status, text, type HttpRequest, type HttpResponse } from './rest/http.js';
import { RestApi } from './rest/router.js';
import { UwsTransport } from './transport/uws.js';
import { describeChoice, loadUws } from './transport/uws-load.js';
import { ChannelStates } from './channels/state.js';
import { systemClock } from './connection/context.js';
import { StateDirLock } from './state/lock.js';
import { WebhookDispatcher } from './webhooks/dispatcher.js';
import { Codes, type PusherCode } from './wire/codes.js';

/** Addresses with no connection and refilled budgets are forgotten this often (quota/per-address.ts). */
const ADDRESS_SWEEP_MS = 10_000;
const EMPTY = Buffer.alloc(0);
/** Past the old process's grace period plus its exit backstop (ops/signals.ts), a take-over warns. */
const EXIT_BACKSTOP_SEC = 2;

export interface ServerOptions {
  readonly config: HeraldConfig;
  readonly logger?: Logger;
  readonly now?: () => number;
  /** Take stateDir over from the live Herald holding it instead of refusing to start (ops/handover.ts). */
  readonly takeOver?: boolean;
}

export class HeraldServer {
  readonly logger: Logger;
  readonly apps: AppRegistry;
  readonly core: Core;
  readonly meter: DailyMeter;
  readonly usage: UsageStore;
  /** Undefined on one node (the cluster has no usage sync). */
  readonly clusterUsage: ClusterUsage | undefined;
  readonly webhooks: WebhookDispatcher;
  readonly cluster: Cluster;
  readonly rest: RestApi;
  readonly transport: UwsTransport;
  readonly health: Health;
  readonly addresses: AddressLimits;
  /** Undefined when metricsEnabled is false. */
  readonly metrics: HeraldMetrics | undefined;
  readonly metricsServer: MetricsServer | undefined;
  readonly version = heraldVersion();
  /** The uWebSockets.js build serving, e.g. "trufflesuite 20.30.0-unofficial.0 (native)". */
  readonly uwsBuild: string;
  /** Ownership of stateDir: the lock, and the handover when started with takeOver. */
  readonly stateDir: StateDirHandover;
  port = 0;
  #config: HeraldConfig;
  readonly #inflight = new InFlight();
  readonly #faultLog: LogLimiter;
  #addressSweep: NodeJS.Timeout | undefined;
  #stopping: Promise<ShutdownResult> | undefined;

  constructor(config: HeraldConfig, options: ServerOptions) {
    const now = options.now ?? Date.now;
    this.#config = config;
    this.logger = options.logger ?? createLogger(config.logLevel);
    const { uws, ...loaded } = loadUws(config.allowUwsFallback, this.logger);
    this.uwsBuild = describeChoice(loaded);
    checkTlsFiles(config.tls);
    this.apps = new AppRegistry(config.apps);
    this.meter = new DailyMeter(now, logThresholds(this.logger));
    const states = new ChannelStates();
    this.cluster = createCluster(config.adapter, this.logger, now, (app) => states.state(app.id));
    const usage = this.cluster.usage;
    const sharedCount = usage !== undefined;
    this.usage = new UsageStore({ stateDir: config.stateDir, flushEveryMs: config.usageFlushSec * 1000, meter: this.meter, logger: this.logger, now, sharedCount });
    this.clusterUsage = usage && new ClusterUsage(usage, this.meter, this.apps, this.logger, config.adapter.usageSyncMs);
    this.health = new Health({ memoryLimitBytes: () => this.#config.memoryLimitBytes, clusterHealthy: () => this.cluster.healthy() });
    this.metrics = config.metricsEnabled ? this.#buildMetrics() : undefined;
    this.metricsServer = this.metrics && new MetricsServer(this.metrics, (req) => this.health.route(req), this.logger);
    this.webhooks = new WebhookDispatcher({
      settings: config,
      apps: this.apps,
      meter: this.meter,
      logger: this.logger,
      now,
      stateFile: join(config.stateDir, 'webhooks.json'),
      holds: this.cluster.holds,
    });
    this.stateDir = new StateDirHandover({
      lock: new StateDirLock(config.stateDir, this.logger),
      usage: this.usage,
      webhooks: this.webhooks,
      logger: this.logger,
      takeOver: options.takeOver === true,
      warnAfterMs: (config.shutdownGraceSec + EXIT_BACKSTOP_SEC) * 1000,
    });
    const observers: CoreObserver[] = [this.meter, new LogObserver(this.logger, now), this.webhooks];
    if (this.metrics) observers.push(this.metrics);
    this.addresses = new AddressLimits(() => this.#config, now);
    this.#faultLog = new LogLimiter(now);
    this.transport = new UwsTransport(uws, config, (callback, err, context) => this.#fault(callback, err, context));
    const observer = combineObservers(observers);
    this.core = new Core({
      settings: config,
      states,
      apps: this.apps,
      hub: this.transport,
      cluster: this.cluster,
      observer,
      meter: this.meter,
      logger: this.logger,
      clock: systemClock(now),
      addresses: this.addresses,
      admissionGate: () => this.#admissionGate(),
    });
    const cluster = this.cluster;
    this.rest = new RestApi({
      publisher: this.core,
      users: this.core,
      channels: { occupancy: cluster.occupancy, presence: cluster.presence, cache: cluster.cache, now },
      clusterHealthy: () => cluster.healthy(),
      authFailed: (app) => observer.authFailed(app, 'rest'),
      apps: this.apps,
      meter: this.meter,
      logger: this.logger,
      now,
      rateLimit: restRateLimit(new RateLimiter(now), () => cluster.nodeCount()),
      onRequest: this.metrics && this.metrics.restRequest.bind(this.metrics),
    });
  }

  static async start(options: ServerOptions): Promise<HeraldServer> {
    const server = new HeraldServer(options.config, options);
    await server.start();
    return server;
  }

  async start(): Promise<void> {
    await this.stateDir.beforeListen(); // owns stateDir and loaded it, or (take-over) previewed its usage; refuses a held one
    await this.cluster.start(this.core.sink()); // joins the cluster (Redis) before any client arrives
    this.clusterUsage?.start();
    const http = { precheck: (method: string, path: string, rawQuery: string) => this.#precheck(method, path, rawQuery), handle: (req: HttpRequest) => this.#http(req) };
    this.port = await this.transport.listen(this.core, http);
    const metricsPort = this.metricsServer && (await this.metricsServer.listen(this.config.metricsHost, this.config.metricsPort));
    this.core.start();
    this.health.start();
    this.#addressSweep = setInterval(() => this.addresses.sweep(), ADDRESS_SWEEP_MS);
    this.#addressSweep.unref();
    const c = this.config;
    this.logger.info(
      {
        version: this.version,
        host: c.host,
        port: this.port,
        tls: c.tls !== undefined,
        metrics: metricsPort === undefined ? 'off' : `${c.metricsHost}:${metricsPort}`,
        apps: [...this.apps.all()].map((a) => a.id),
        adapter: c.adapter.driver,
        uws: this.uwsBuild,
        pid: process.pid,
      },
      'herald listening',
    );
    this.stateDir.afterListen(); // take-over: both serve now; the old process is asked to hand over
  }

  /** The running config: the startup one with reloaded live settings (ops/reload.ts LIVE_SETTINGS). */
  get config(): HeraldConfig {
    return this.#config;
  }

  /**
   * Graceful stop, sequenced under shutdownGraceSec: readiness fails at once; after
   * shutdownDrainDelaySec (load balancers stop routing here) it stops accepting, closes every
   * client with 4200 so pusher-js reconnects at once (to another node when there is one), waits
   * for in-flight REST requests, then flushes state and closes the metrics port. Idempotent.
   */
  stop(): Promise<ShutdownResult> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<ShutdownResult> {
    const c = this.config;
    this.health.drain();
    this.logger.info({ graceSec: c.shutdownGraceSec, drainDelaySec: c.shutdownDrainDelaySec }, 'draining: readiness is now false');
    const result = await runShutdown(
      [
        { name: 'drain delay', wait: true, run: (deadline) => waitFor(Math.min(deadline, Date.now() + c.shutdownDrainDelaySec * 1000)) },
        {
          name: 'close clients',
          run: () => {
            this.core.stopAccepting();
            this.transport.stopListening();
            this.core.kickAll(Codes.RECONNECT);
          },
        },
        {
          name: 'finish requests',
          wait: true,
          run: async (deadline) => {
            if (!(await waitUntil(() => this.#inflight.count === 0 && this.core.connectionCount === 0, deadline))) {
              throw new Error(`${this.#inflight.count} requests and ${this.core.connectionCount} connections still open`);
            }
          },
        },
        {
          name: 'stop timers',
          run: () => {
            this.core.stop();
            clearInterval(this.#addressSweep);
          },
        },
        { name: 'sync usage', run: () => this.clusterUsage?.stop() },
        { name: 'leave cluster', run: () => this.cluster.stop() }, // after every client left, so the cluster saw them leave
        { name: 'finish handover', wait: true, run: (deadline) => this.stateDir.finish(deadline) }, // only the lock's holder writes stateDir
        // after every client left: their vacated events are held and saved
        { name: 'save webhooks', run: (deadline) => (this.stateDir.parts.lock.held ? this.webhooks.stop(deadline) : undefined) },
        { name: 'flush usage', run: () => this.usage.stop() }, // the final counts are on disk before stop resolves
        { name: 'release stateDir', run: () => this.stateDir.parts.lock.release() }, // a take-over waits for this
        { name: 'close metrics port', run: () => this.metricsServer?.close() },
      ],
      c.shutdownGraceSec * 1000,
      this.logger,
    );
    this.health.stop();
    this.logger.info({ elapsedMs: result.elapsedMs, incomplete: result.incomplete }, 'stopped');
    return result;
  }

  /**
   * Applies a validated config: apps added, removed, disabled, re-keyed or re-limited without
   * dropping other connections (ops/reload.ts). Restart-only settings that changed are logged.
   */
  reload(next: HeraldConfig): ReloadPlan {
    const plan = planReload(this.#config, next);
    const closed = applyApps(this.core, this.apps, next.apps);
    this.#config = mergeConfig(this.#config, next);
    this.logger.level = next.logLevel;
    this.health.sample();
    this.metrics?.configReload('applied');
    this.logger.info({ ...plan, apps: next.apps.length, closedConnections: closed }, 'config reloaded');
    if (plan.restartRequired.length > 0) {
      this.logger.warn({ settings: plan.restartRequired }, 'config reload: these settings take effect only after a restart');
    }
    return plan;
  }

  /** Reports a reload that was refused (bad file); the running config stays. */
  reloadRefused(reason: string): void {
    this.metrics?.configReload('refused');
    this.logger.error({ reason }, 'config reload refused; the running config stays in force');
  }

  #buildMetrics(): HeraldMetrics {
    return new HeraldMetrics(
      {
        apps: () => this.apps.all(),
        appStats: (app) => this.core.stats(app),
        quotaUsed: (appId) => this.meter.used(appId),
        ready: () => this.health.notReady() === undefined,
        memoryLimitBytes: () => this.#config.memoryLimitBytes,
        webhooks: () => this.webhooks.stats.snapshot(),
      },
      this.version,
    );
  }

  /** Sheds new connections with 4100 (pusher-js retries after a back-off) while memory is over the limit. */
  #admissionGate(): PusherCode | undefined {
    if (!this.health.overloaded) return undefined;
    this.metrics?.connectionShed();
    return Codes.OVER_CAPACITY;
  }

  /**
   * An exception stopped at a uWS callback: counted, and logged with its context at most ten
   * times per callback per 10 s (a fault that input can trigger must not flood the log).
   */
  #fault(callback: string, err: unknown, context: Record<string, unknown>): void {
    this.metrics?.callbackFault(callback);
    const suppressed = this.#faultLog.allow(callback);
    if (suppressed === undefined) return;
    this.logger.error({ err, callback, ...context, suppressedSinceLast: suppressed }, 'uWebSockets.js callback failed; that connection or request was ended');
  }

  #precheck(method: string, path: string, rawQuery: string): HttpResponse | undefined {
    if (path === '/' || this.health.route({ method, path, rawQuery, body: EMPTY }) !== undefined) return undefined;
    return this.rest.precheck(method, path, rawQuery);
  }

  #http(req: HttpRequest): HttpResponse | Promise<HttpResponse> {
    if (req.method === 'GET' && req.path === '/') return text(Status.OK, 'OK');
    return this.health.route(req) ?? this.#inflight.track(this.rest.handle(req));
  }
}
