/**
 * Daily message quota per app (protocol §8): the count resets at 00:00 UTC. Counting is O(1)
 * per call; deliveries arrive through the core observer with the recipient count.
 */
import type { App } from '../apps/registry.js';
import type { CoreObserver } from '../connection/observer.js';
import type { MessageMeter } from './meter.js';

export const DAY_MS = 86_400_000;

export function utcDay(ms: number): number {
  return Math.floor(ms / DAY_MS);
}

export class DailyMeter implements MessageMeter, CoreObserver {
  #day: number;
  readonly #used = new Map<string, number>();

  constructor(readonly now: () => number) {
    this.#day = utcDay(now());
  }

  #roll(): void {
    const day = utcDay(this.now());
    if (day !== this.#day) {
      this.#day = day;
      this.#used.clear();
    }
  }

  used(appId: string): number {
    this.#roll();
    return this.#used.get(appId) ?? 0;
  }

  add(app: App, messages: number): void {
    this.#roll();
    this.#used.set(app.id, (this.#used.get(app.id) ?? 0) + messages);
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
}
