/**
 * Bounds log lines that outside input can cause (refused requests, failed authentications,
 * callback faults): at most `perWindow` lines per key in each window; the first line after
 * lines were dropped says how many. Keys come from a fixed set chosen by the caller (a route
 * name, a status, a callback name), never from request text, so the map stays small.
 */
interface Window {
  startMs: number;
  logged: number;
  suppressed: number;
}

export class LogLimiter {
  readonly #windows = new Map<string, Window>();

  constructor(
    readonly now: () => number,
    readonly perWindow = 10,
    readonly windowMs = 10_000,
  ) {}

  /**
   * Whether a line for `key` may be written now: undefined when it must be dropped, else the
   * number of lines dropped for this key since the last one written (usually 0).
   */
  allow(key: string): number | undefined {
    const now = this.now();
    let w = this.#windows.get(key);
    if (w === undefined) {
      w = { startMs: now, logged: 0, suppressed: 0 };
      this.#windows.set(key, w);
    } else if (now - w.startMs >= this.windowMs) {
      w.startMs = now;
      w.logged = 0;
    }
    if (w.logged >= this.perWindow) {
      w.suppressed++;
      return undefined;
    }
    w.logged++;
    const suppressed = w.suppressed;
    w.suppressed = 0;
    return suppressed;
  }
}
