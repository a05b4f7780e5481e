/**
 * Liveness and readiness. Liveness is "the event loop answers". Readiness is false while the
 * server drains for shutdown and while resident memory is above `memoryLimitBytes`; in the
 * second case new WebSocket connections are also shed with 4100 (pusher-js retries after a
 * back-off, protocol §3.1) instead of letting the process grow into the OOM killer.
 */
import { Status, text, type HttpRequest, type HttpResponse } from '../rest/http.js';

/** How often resident memory is sampled; admission reads the cached verdict. */
export const MEMORY_SAMPLE_MS = 1000;

export type NotReadyReason = 'starting' | 'draining' | 'memory' | 'cluster';

export interface HealthOptions {
  /** Current limit in bytes (0 = off); read at every sample so a reload can change it. */
  readonly memoryLimitBytes: () => number;
  /** False while cross-node work is impossible (the Redis adapter lost Redis). */
  readonly clusterHealthy?: () => boolean;
  /** Resident set size in bytes; injectable for tests. */
  readonly rss?: () => number;
}

export class Health {
  #started = false;
  #draining = false;
  #overMemory = false;
  #timer: NodeJS.Timeout | undefined;
  readonly #rss: () => number;

  constructor(readonly options: HealthOptions) {
    this.#rss = options.rss ?? (() => process.memoryUsage.rss());
  }

  /** Marks the server started and begins memory sampling. */
  start(): void {
    this.#started = true;
    this.sample();
    this.#timer = setInterval(() => this.sample(), MEMORY_SAMPLE_MS);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Shutdown has begun: readiness fails from now on. Irreversible. */
  drain(): void {
    this.#draining = true;
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** Re-reads resident memory against the limit; returns whether it is over. */
  sample(): boolean {
    const limit = this.options.memoryLimitBytes();
    this.#overMemory = limit > 0 && this.#rss() > limit;
    return this.#overMemory;
  }

  /** True while new connections should be shed (memory above the limit, as last sampled). */
  get overloaded(): boolean {
    return this.#overMemory;
  }

  /** Why the server is not ready, or undefined when it is. */
  notReady(): NotReadyReason | undefined {
    if (!this.#started) return 'starting';
    if (this.#draining) return 'draining';
    if (this.#overMemory) return 'memory';
    if (this.options.clusterHealthy?.() === false) return 'cluster';
    return undefined;
  }

  /**
   * Answers GET /health and /livez (liveness) and GET /ready and /readyz (readiness, 503 with
   * the reason when not ready); anything else is undefined so the caller routes it on.
   */
  route(req: HttpRequest): HttpResponse | undefined {
    if (req.method !== 'GET') return undefined;
    if (req.path === '/health' || req.path === '/livez') return text(Status.OK, 'OK');
    if (req.path === '/ready' || req.path === '/readyz') {
      const reason = this.notReady();
      return reason === undefined ? text(Status.OK, 'READY') : text(Status.UNAVAILABLE, `NOT READY: ${reason}`);
    }
    return undefined;
  }
}
