// Small shared pieces of the soak run: a stop switch whose sleeps end early, random helpers,
// counters, and the loopback addresses client sockets come from.

/**
 * A stop switch for loops. `sleep(ms)` resolves after ms, or at once when `stop()` is called
 * (never rejects), so every `while (!stop.stopped) { ...; await stop.sleep(x) }` loop ends
 * within one iteration of stop().
 */
export class Stop {
  stopped = false;
  #waiters = new Set();

  sleep(ms) {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = { resolve, timer: undefined };
      waiter.timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        resolve();
      }, Math.max(0, ms));
      this.#waiters.add(waiter);
    });
  }

  stop() {
    this.stopped = true;
    for (const w of this.#waiters) {
      clearTimeout(w.timer);
      w.resolve();
    }
    this.#waiters.clear();
  }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Integer in [min, max]. */
export const randInt = (min, max) => min + Math.floor(Math.random() * (max - min + 1));
export const pick = (list) => list[Math.floor(Math.random() * list.length)];
export const chance = (p) => Math.random() < p;

/** Rejects with `message` when `promise` has not settled within ms. */
export function withTimeout(promise, ms, message) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Named counters plus bounded "kind → count" tallies (error messages, close codes). A tally
 * keeps at most 50 distinct keys; the rest are folded into "(other)", so a flood of distinct
 * messages cannot grow the load generator's memory.
 */
export class Counters {
  values = Object.create(null);
  tallies = Object.create(null);

  add(name, n = 1) {
    this.values[name] = (this.values[name] ?? 0) + n;
  }

  get(name) {
    return this.values[name] ?? 0;
  }

  tally(group, key) {
    const t = (this.tallies[group] ??= Object.create(null));
    const k = key in t || Object.keys(t).length < 50 ? String(key) : '(other)';
    t[k] = (t[k] ?? 0) + 1;
  }

  snapshot() {
    return { ...this.values };
  }
}

/**
 * Loopback source addresses for client sockets: 127.0.0.2 … 127.0.0.20. Spreading sockets
 * over them keeps each address's ephemeral ports and the server's per-address counters low.
 */
export const CLIENT_ADDRESSES = Array.from({ length: 19 }, (_, i) => `127.0.0.${i + 2}`);
let nextAddress = 0;
export function nextClientAddress() {
  nextAddress = (nextAddress + 1) % CLIENT_ADDRESSES.length;
  return CLIENT_ADDRESSES[nextAddress];
}

/** Truncates text for a tally key or a log excerpt. */
export const clip = (text, n = 80) => (text.length > n ? `${text.slice(0, n)}…` : text);
