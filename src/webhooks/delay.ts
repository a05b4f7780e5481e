/**
 * The hold for `channel_vacated` and `member_removed` (protocol §9): each is held for a fixed
 * delay and dropped when the channel or member comes back within it, so a page reload produces
 * no webhook pair. Because the delay is constant, deadlines grow with insertion order and one
 * insertion-ordered Map plus a single timer for its head is enough: hold, cancel and release
 * are O(1) each.
 */

export interface HeldEntry<T> {
  readonly key: string;
  readonly dueAtMs: number;
  readonly value: T;
}

export class DelayLine<T> {
  readonly #entries = new Map<string, { dueAtMs: number; value: T }>();
  #timer: NodeJS.Timeout | undefined;
  #armedForMs = 0;

  constructor(
    readonly delayMs: number,
    readonly now: () => number,
    readonly release: (value: T) => void,
  ) {}

  get size(): number {
    return this.#entries.size;
  }

  /**
   * Holds `value` under `key` until `dueAtMs` (default now + delay). `dueAtMs` is given only
   * when restoring entries saved by an earlier process; those are never later than new ones.
   */
  hold(key: string, value: T, dueAtMs = this.now() + this.delayMs): void {
    this.#entries.delete(key);
    this.#entries.set(key, { dueAtMs, value });
    if (this.#timer === undefined) this.#arm();
  }

  /** Drops the held entry for `key`; true when there was one (the thing came back in time). */
  cancel(key: string): boolean {
    return this.#entries.delete(key);
  }

  /** Removes and returns every held entry (for persisting on shutdown); stops the timer. */
  drain(): HeldEntry<T>[] {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const out = [...this.#entries].map(([key, e]) => ({ key, dueAtMs: e.dueAtMs, value: e.value }));
    this.#entries.clear();
    return out;
  }

  #arm(): void {
    const head = this.#entries.values().next();
    if (head.done) return;
    this.#armedForMs = head.value.dueAtMs;
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, head.value.dueAtMs - this.now()));
    this.#timer.unref();
  }

  /**
   * Releases every entry that is due. An entry due no later than the one the timer was armed
   * for counts as due even if the injected clock has not advanced, so the line always drains.
   */
  #fire(): void {
    this.#timer = undefined;
    const cutoff = Math.max(this.now(), this.#armedForMs);
    for (const [key, e] of this.#entries) {
      if (e.dueAtMs > cutoff) break;
      this.#entries.delete(key);
      this.release(e.value);
    }
    this.#arm();
  }
}
