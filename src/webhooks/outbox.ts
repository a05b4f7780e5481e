/**
 * One app's webhook requests that are not yet delivered: ready to send, waiting for a retry,
 * or in flight. Bounded in events: when a new request pushes the total past the bound, the
 * oldest requests that are not in flight are dropped and handed back so the caller counts and
 * logs them. Every operation is O(1) apart from the trim, which skips at most the in-flight ones.
 */
import type { WebhookEventType } from '../config/config.js';

export interface Delivery {
  readonly id: number;
  readonly appId: string;
  readonly url: string;
  /** The exact body; signed at send time with the app's current secret. */
  readonly body: string;
  readonly types: readonly WebhookEventType[];
  readonly events: number;
  readonly createdAtMs: number;
  attempts: number;
  nextAttemptAtMs: number;
  inFlight: boolean;
  retryTimer?: NodeJS.Timeout;
}

export class Outbox {
  /** Every undelivered request, oldest first. */
  readonly #pending = new Map<number, Delivery>();
  /** Requests due to be sent now, oldest first. */
  readonly #ready = new Set<Delivery>();
  #events = 0;
  inFlight = 0;

  get events(): number {
    return this.#events;
  }

  get requests(): number {
    return this.#pending.size;
  }

  add(d: Delivery): void {
    this.#pending.set(d.id, d);
    this.#events += d.events;
  }

  has(d: Delivery): boolean {
    return this.#pending.get(d.id) === d;
  }

  markReady(d: Delivery): void {
    if (this.has(d)) this.#ready.add(d);
  }

  /** Takes the oldest ready request and marks it in flight. */
  take(): Delivery | undefined {
    const next = this.#ready.values().next();
    if (next.done) return undefined;
    const d = next.value;
    this.#ready.delete(d);
    d.inFlight = true;
    this.inFlight++;
    return d;
  }

  /** The request came back (delivered or failed). */
  landed(d: Delivery): void {
    if (!d.inFlight) return;
    d.inFlight = false;
    this.inFlight--;
  }

  /** Forgets a request (delivered, or dropped by the caller). */
  remove(d: Delivery): void {
    if (!this.has(d)) return;
    if (d.retryTimer !== undefined) clearTimeout(d.retryTimer);
    d.retryTimer = undefined;
    this.#pending.delete(d.id);
    this.#ready.delete(d);
    this.#events -= d.events;
  }

  /** Drops the oldest requests not in flight until at most `maxEvents` events remain. */
  trim(maxEvents: number): Delivery[] {
    const dropped: Delivery[] = [];
    if (this.#events <= maxEvents) return dropped;
    for (const d of this.#pending.values()) {
      if (this.#events <= maxEvents) break;
      if (d.inFlight) continue;
      this.remove(d);
      dropped.push(d);
    }
    return dropped;
  }

  /** Every undelivered request, oldest first; stops their retry timers (shutdown). */
  drain(): Delivery[] {
    const all = [...this.#pending.values()];
    for (const d of all) {
      if (d.retryTimer !== undefined) clearTimeout(d.retryTimer);
      d.retryTimer = undefined;
    }
    this.#pending.clear();
    this.#ready.clear();
    this.#events = 0;
    return all;
  }
}
