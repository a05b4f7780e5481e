/**
 * Shares the daily message counts across a cluster (adapter/usage.ts): every `syncMs` each node
 * adds what it counted since the last sync to the cluster-wide count of the UTC day and learns
 * the others' total. Counting stays O(1) and local; Redis sees one call per sync, not per
 * message. Bound on overshoot: an app can pass its quota by at most what the other nodes count
 * in one sync interval (plus what is in flight while Redis is unreachable, caught up after).
 *
 * Each node also remembers the last cluster-wide total it learnt per app (and the counter's
 * generation) and hands it in at every sync: when the shared count was lost (Redis restarted
 * empty) the highest remembered total comes back within two sync intervals of the nodes being
 * healthy again. Memory only: a node restarted since holds no claim.
 */
import type { UsageSync, UsageTotal } from '../adapter/usage.js';
import type { AppRegistry } from '../apps/registry.js';
import type { Logger } from '../log.js';
import type { DailyMeter } from './daily.js';

export class ClusterUsage {
  /** Per app: this node's count already added to the cluster total (for `#day`). */
  readonly #synced = new Map<string, number>();
  /** Per app: the cluster-wide total last learnt (for `#day`), handed in as a claim should it be lost. */
  readonly #seen = new Map<string, UsageTotal>();
  #day = -1;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(
    readonly usage: UsageSync,
    readonly meter: DailyMeter,
    readonly apps: AppRegistry,
    readonly logger: Logger,
    readonly syncMs: number,
  ) {}

  /** Counts restored from this node's usage file were synced before it stopped. */
  start(): void {
    this.#day = this.meter.day;
    for (const app of this.apps.all()) this.#synced.set(app.id, this.meter.localUsed(app.id));
    this.#timer = setInterval(() => void this.sync(), this.syncMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.sync();
  }

  sync(): Promise<void> {
    this.#running ??= this.#sync().finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #sync(): Promise<void> {
    const day = this.meter.day;
    if (day !== this.#day) {
      this.#day = day;
      this.#synced.clear();
      this.#seen.clear();
    }
    const deltas = new Map<string, number>();
    const local = new Map<string, number>();
    for (const app of this.apps.all()) {
      const n = this.meter.localUsed(app.id);
      local.set(app.id, n);
      const delta = n - (this.#synced.get(app.id) ?? 0);
      if (delta !== 0) deltas.set(app.id, delta);
    }
    // An empty sync still reads the totals, so a quiet node learns what the busy ones counted.
    if (deltas.size === 0) for (const app of this.apps.all()) deltas.set(app.id, 0);
    try {
      const totals = await this.usage.sync(day, deltas, new Map(this.#seen));
      if (totals === undefined) return;
      for (const [appId, total] of totals) {
        const mine = local.get(appId) ?? 0;
        this.#synced.set(appId, mine);
        this.#adopt(day, appId, total, mine);
      }
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'cluster usage sync failed; counts will be added at the next sync');
    }
  }

  #adopt(day: number, appId: string, total: UsageTotal, mine: number): void {
    if (day !== this.#day) return; // the day turned while the sync was in flight
    const before = this.#seen.get(appId);
    if (before !== undefined && before.generation !== total.generation) {
      this.logger.warn(
        { app: appId, remembered: before.total, restored: total.total },
        "the cluster's daily message count was lost (Redis restarted empty?); restored from what the nodes remembered",
      );
    }
    this.#seen.set(appId, total);
    this.meter.setOthers(day, appId, total.total - mine);
  }
}
