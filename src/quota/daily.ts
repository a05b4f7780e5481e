/**
 * Daily message quota per app (protocol §8): the count resets at 00:00 UTC. Counting is O(1)
 * per call (a clock read, one Map lookup, two comparisons); deliveries arrive through the core
 * observer with the recipient count. Crossing 80 % and 100 % of an app's quota is reported
 * once per app per UTC day. The meter does no I/O: UsageStore (persist.ts) snapshots it.
 */
import type { App } from '../apps/registry.js';
import type { CoreObserver } from '../connection/observer.js';
import type { Logger } from '../log.js';
import type { MessageMeter } from './meter.js';

export const DAY_MS = 86_400_000;

/** Days since the epoch, UTC. */
export function utcDay(ms: number): number {
  return Math.floor(ms / DAY_MS);
}

/** The UTC day as `YYYY-MM-DD`. */
export function dayString(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

/** Percentages of the daily quota at which the meter reports a crossing, once per app per day. */
export const QUOTA_THRESHOLDS = [80, 100] as const;
export type QuotaThreshold = (typeof QUOTA_THRESHOLDS)[number];

/** Called when an app's count first reaches a threshold on a UTC day. Must not throw. */
export type ThresholdListener = (app: App, percent: QuotaThreshold, used: number, resetsAtMs: number) => void;

export interface UsageSnapshot {
  /** Days since the epoch, UTC. */
  readonly day: number;
  readonly used: ReadonlyMap<string, number>;
}

export class DailyMeter implements MessageMeter, CoreObserver {
  #day: number;
  readonly #used = new Map<string, number>();
  /** Other nodes' counts for today (cluster mode), as of the last sync. */
  readonly #others = new Map<string, number>();
  /** Bumped on every change, so a flusher can tell whether there is anything new to write. */
  #version = 0;

  constructor(
    readonly now: () => number,
    readonly onThreshold: ThresholdListener = () => {},
  ) {
    this.#day = utcDay(now());
  }

  #roll(): void {
    const day = utcDay(this.now());
    if (day !== this.#day) {
      this.#day = day;
      this.#used.clear();
      this.#others.clear();
      this.#version++;
    }
  }

  /** Today's count for the app: this node's plus, in a cluster, the others' as of the last sync. */
  used(appId: string): number {
    this.#roll();
    return (this.#used.get(appId) ?? 0) + (this.#others.get(appId) ?? 0);
  }

  /** This node's own count today. */
  localUsed(appId: string): number {
    this.#roll();
    return this.#used.get(appId) ?? 0;
  }

  /** The UTC day the counts are for. */
  get day(): number {
    this.#roll();
    return this.#day;
  }

  /** Sets what the rest of the cluster counted today (ignored when `day` is not today). */
  setOthers(day: number, appId: string, n: number): void {
    this.#roll();
    if (day === this.#day) this.#others.set(appId, Math.max(0, n));
  }

  add(app: App, messages: number): void {
    this.#roll();
    const local = this.#used.get(app.id) ?? 0;
    this.#used.set(app.id, local + messages);
    const before = local + (this.#others.get(app.id) ?? 0);
    const after = before + messages;
    this.#version++;
    const limit = app.limits.maxMessagesPerDay;
    if (after >= limit * 0.8) this.#crossed(app, before, after, limit);
  }

  /** Reports each threshold first reached by this add (a quota of 0 is reached by the first message). */
  #crossed(app: App, before: number, after: number, limit: number): void {
    for (const percent of QUOTA_THRESHOLDS) {
      const at = (limit * percent) / 100;
      const reached = (n: number): boolean => (at === 0 ? n > 0 : n >= at);
      if (reached(after) && !reached(before)) this.onThreshold(app, percent, after, this.resetsAtMs());
    }
  }

  isOver(app: App): boolean {
    return this.used(app.id) >= app.limits.maxMessagesPerDay;
  }

  remaining(app: App): number {
    return Math.max(0, app.limits.maxMessagesPerDay - this.used(app.id));
  }

  resetsAtMs(): number {
    return (utcDay(this.now()) + 1) * DAY_MS;
  }

  delivered(app: App, messages: number): void {
    this.add(app, messages);
  }

  /** A change counter: equal values mean nothing was counted in between. */
  get version(): number {
    return this.#version;
  }

  /** Today's counts (a copy). */
  snapshot(): UsageSnapshot {
    this.#roll();
    return { day: this.#day, used: new Map(this.#used) };
  }

  /**
   * Adds saved counts back (at startup). Counts from an earlier UTC day are ignored; counts
   * from a later day (the clock went back) are kept, so a restart never hands out a fresh
   * quota. Returns whether anything was restored. No threshold is reported for restored counts.
   */
  restore(saved: UsageSnapshot): boolean {
    this.#roll();
    if (saved.day < this.#day) return false;
    for (const [appId, n] of saved.used) this.#used.set(appId, (this.#used.get(appId) ?? 0) + n);
    this.#version++;
    return true;
  }
}

/** The threshold listener Herald uses: one warning per app per day and threshold (no secrets). */
export function logThresholds(logger: Pick<Logger, 'warn'>): ThresholdListener {
  return (app, percent, used, resetsAtMs) => {
    const fields = { app: app.id, name: app.name, used, limit: app.limits.maxMessagesPerDay, percent, resetsAt: new Date(resetsAtMs).toISOString() };
    if (percent >= 100) logger.warn(fields, 'app reached its daily message quota; publishes and client events are refused until the reset');
    else logger.warn(fields, `app reached ${percent}% of its daily message quota`);
  };
}
