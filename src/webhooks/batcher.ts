/**
 * Batching per app and target URL (protocol §9: Pusher sends up to `maxEvents` events per
 * request, gathered for at most `batchMs`). A batch belongs to one target of one app, so apps
 * never share a request. `add` is O(1); building the body happens when the batch is flushed,
 * from a timer, never inside the core's call.
 */
import type { App } from '../apps/registry.js';
import type { WebhookTarget } from '../config/config.js';
import type { WebhookEvent } from './events.js';

export interface BatchSettings {
  readonly batchMs: number;
  readonly maxEvents: number;
}

export type FlushSink = (app: App, target: WebhookTarget, events: WebhookEvent[]) => void;

interface Batch {
  readonly app: App;
  readonly target: WebhookTarget;
  readonly events: WebhookEvent[];
  /** Channels with a cache_miss already in this batch: Pusher de-duplicates them (§9). */
  cacheMisses?: Set<string>;
  timer?: NodeJS.Timeout;
  immediate?: NodeJS.Immediate;
}

export class Batcher {
  readonly #open = new Map<WebhookTarget, Batch>();

  constructor(
    readonly settings: BatchSettings,
    readonly sink: FlushSink,
  ) {}

  add(app: App, target: WebhookTarget, event: WebhookEvent): void {
    let batch = this.#open.get(target);
    if (batch === undefined) {
      batch = { app, target, events: [] };
      this.#open.set(target, batch);
      this.#schedule(batch);
    }
    if (event.name === 'cache_miss') {
      batch.cacheMisses ??= new Set();
      if (batch.cacheMisses.has(event.channel)) return;
      batch.cacheMisses.add(event.channel);
    }
    batch.events.push(event);
    if (batch.events.length === this.settings.maxEvents && batch.immediate === undefined) {
      const full = batch;
      batch.immediate = setImmediate(() => this.#flush(full));
      batch.immediate.unref();
    }
  }

  /** Flushes every open batch now (on shutdown, so their events are persisted). */
  flushAll(): void {
    for (const batch of [...this.#open.values()]) this.#flush(batch);
  }

  #schedule(batch: Batch): void {
    batch.timer = setTimeout(() => this.#flush(batch), this.settings.batchMs);
    batch.timer.unref();
  }

  /** Hands the batch to the sink in requests of at most `maxEvents` events. */
  #flush(batch: Batch): void {
    if (this.#open.get(batch.target) !== batch) return;
    this.#open.delete(batch.target);
    if (batch.timer !== undefined) clearTimeout(batch.timer);
    if (batch.immediate !== undefined) clearImmediate(batch.immediate);
    const max = this.settings.maxEvents;
    for (let i = 0; i < batch.events.length; i += max) {
      this.sink(batch.app, batch.target, batch.events.slice(i, i + max));
    }
  }
}
