/**
 * A clock the test moves by hand (the core's Clock, src/connection/context.ts): `advance`
 * moves time forward and runs every timer that falls due, in order, so throttles and liveness
 * are tested without sleeping.
 */
import type { Clock } from '../../src/connection/context.js';

interface Timer {
  at: number;
  readonly run: () => void;
  readonly everyMs: number | undefined;
  cancelled: boolean;
}

export class FakeClock implements Clock {
  #timers: Timer[] = [];

  constructor(public ms = Date.UTC(2026, 0, 15, 12)) {}

  readonly now = (): number => this.ms;

  after(ms: number, run: () => void): () => void {
    return this.#add(ms, run, undefined);
  }

  every(ms: number, run: () => void): () => void {
    return this.#add(ms, run, ms);
  }

  /** Timers not yet run or cancelled. */
  get pending(): number {
    return this.#timers.filter((t) => !t.cancelled).length;
  }

  /** Moves time forward by `ms`, running each timer due on the way at its own time. */
  advance(ms: number): void {
    const end = this.ms + ms;
    for (;;) {
      const due = this.#timers.filter((t) => !t.cancelled && t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      this.ms = Math.max(this.ms, due.at);
      if (due.everyMs === undefined) due.cancelled = true;
      else due.at += due.everyMs;
      due.run();
    }
    this.ms = end;
    this.#timers = this.#timers.filter((t) => !t.cancelled);
  }

  #add(ms: number, run: () => void, everyMs: number | undefined): () => void {
    const timer: Timer = { at: this.ms + Math.max(0, ms), run, everyMs, cancelled: false };
    this.#timers.push(timer);
    return () => {
      timer.cancelled = true;
    };
  }
}
