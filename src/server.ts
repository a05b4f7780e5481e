/**
 * The composition root: builds every part with explicit dependencies and owns the start/stop
 * lifecycle. Nothing else constructs components or holds module-level state.
 */
import { join } from 'node:path';
import { AppRegistry } from './apps/registry.js';
import type { HeraldConfig } from './config/config.js';
import { Core } from './connection/core.js';
import { combineObservers, type CoreObserver } from './connection/observer.js';
import { createLogger, type Logger } from './log.js';
import { DailyMeter, logThresholds } from './quota/daily.js';
import { UsageStore } from './quota/persist.js';
import { RateLimiter, restRateLimit } from './quota/rate.js';
import { text, type HttpRequest, type HttpResponse } from './rest/http.js';
import { RestApi } from './rest/router.js';
import { loadUws, UwsTransport } from './transport/uws.js';
import { WebhookDispatcher } from './webhooks/dispatcher.js';
import { Codes } from './wire/codes.js';

export interface ServerOptions {
  readonly config: HeraldConfig;
  readonly logger?: Logger;
  readonly now?: () => number;
}

export class HeraldServer {
  readonly logger: Logger;
  readonly apps: AppRegistry;
  readonly core: Core;
  readonly meter: DailyMeter;
  readonly usage: UsageStore;
  readonly webhooks: WebhookDispatcher;
  readonly rest: RestApi;
  readonly transport: UwsTransport;
  port = 0;
  #ready = false;

  constructor(readonly config: HeraldConfig, options: ServerOptions) {
    const now = options.now ?? Date.now;
    this.logger = options.logger ?? createLogger(config.logLevel);
    const uws = loadUws(config.allowUwsFallback, this.logger);
    this.apps = new AppRegistry(config.apps);
    this.meter = new DailyMeter(now, logThresholds(this.logger));
    this.usage = new UsageStore({ stateDir: config.stateDir, flushEveryMs: config.usageFlushSec * 1000, meter: this.meter, logger: this.logger, now });
    this.webhooks = new WebhookDispatcher({
      settings: config,
      apps: this.apps,
      meter: this.meter,
      logger: this.logger,
      now,
      stateFile: join(config.stateDir, 'webhooks.json'),
    });
    const observers: CoreObserver[] = [this.meter, this.webhooks];
    let hub: UwsTransport | undefined;
    this.core = new Core({
      settings: config,
      apps: this.apps,
      hub: { publish: (topic, frame) => hub?.publish(topic, frame) },
      observer: combineObservers(observers),
      meter: this.meter,
      logger: this.logger,
      now,
    });
    this.rest = new RestApi({
      core: this.core,
      apps: this.apps,
      meter: this.meter,
      logger: this.logger,
      now,
      rateLimit: restRateLimit(new RateLimiter(now)),
    });
    this.transport = hub = new UwsTransport(uws, config, this.core, this.apps, (req) => this.#http(req), this.logger);
  }

  static async start(options: ServerOptions): Promise<HeraldServer> {
    const server = new HeraldServer(options.config, options);
    await server.start();
    return server;
  }

  async start(): Promise<void> {
    await this.usage.start(); // today's counts are back before anything is counted
    await this.webhooks.start(); // pending deliveries and held vacated events are back before clients return
    this.port = await this.transport.listen();
    this.core.start();
    this.#ready = true;
    this.logger.info(
      { port: this.port, host: this.config.host, apps: [...this.apps.all()].map((a) => a.id), adapter: this.config.adapter.driver },
      'herald listening',
    );
  }

  /** Stops accepting, closes every client with 4200 so pusher-js reconnects at once, and stops timers. */
  async stop(): Promise<void> {
    this.#ready = false;
    this.core.stopAccepting();
    this.transport.stopListening();
    this.core.kickAll(Codes.RECONNECT);
    this.core.stop();
    await this.webhooks.stop(); // after every client left: their vacated events are held and saved
    await this.usage.stop(); // the final counts are on disk before stop resolves
  }

  #http(req: HttpRequest): HttpResponse {
    if (req.method === 'GET' && (req.path === '/' || req.path === '/health' || req.path === '/livez')) return text(200, 'OK');
    if (req.method === 'GET' && (req.path === '/ready' || req.path === '/readyz')) {
      return this.#ready ? text(200, 'READY') : text(503, 'NOT READY');
    }
    return this.rest.handle(req);
  }
}
