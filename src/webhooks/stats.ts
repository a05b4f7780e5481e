/**
 * Webhook counters for metrics and tests: requests by app, event type and outcome; retries;
 * dropped events by reason; queue depth. A metrics exporter reads `snapshot()` at scrape time
 * or registers a listener; both are cheap. Drops are also logged (throttled per app and reason,
 * with the number of drops the throttle folded in), so no drop is ever silent.
 */
import type { WebhookEventType } from '../config/config.js';
import type { Logger } from '../log.js';
import type { WebhookOutcome } from './delivery.js';

export type WebhookDropReason =
  /** The app's queue was full; the oldest requests made room. */
  | 'overflow'
  /** Every attempt failed until the retry window closed. */
  | 'expired'
  /** Restored from disk for an app or URL no longer in the config. */
  | 'unconfigured';

export interface WebhookStatsListener {
  /** One attempted request; `types` are the distinct event types in its body. */
  request?(appId: string, types: readonly WebhookEventType[], outcome: WebhookOutcome): void;
  retry?(appId: string): void;
  dropped?(appId: string, reason: WebhookDropReason, events: number, requests: number): void;
}

export interface QueueDepth {
  readonly appId: string;
  /** Events in requests not yet delivered (ready, waiting for a retry, or in flight). */
  readonly events: number;
  readonly requests: number;
}

export interface WebhookStatsSnapshot {
  readonly requests: ReadonlyArray<{ appId: string; event: WebhookEventType; outcome: WebhookOutcome; count: number }>;
  readonly retries: ReadonlyArray<{ appId: string; count: number }>;
  readonly dropped: ReadonlyArray<{ appId: string; reason: WebhookDropReason; events: number; requests: number }>;
  readonly queue: readonly QueueDepth[];
  /** channel_vacated / member_removed events being held (§9 delay). */
  readonly held: number;
}

/** How often, at most, one app and reason gets a drop log line. */
export const DROP_LOG_EVERY_MS = 10_000;
const SEP = '\u0000';

export class WebhookStats {
  readonly #requests = new Map<string, number>();
  readonly #retries = new Map<string, number>();
  readonly #dropped = new Map<string, { events: number; requests: number }>();
  readonly #listeners = new Set<WebhookStatsListener>();
  readonly #dropLog = new Map<string, { atMs: number; folded: number }>();

  constructor(
    readonly logger: Logger,
    readonly now: () => number,
    readonly depth: () => { queue: QueueDepth[]; held: number },
  ) {}

  /** Registers a listener; returns the function that removes it. */
  listen(listener: WebhookStatsListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  request(appId: string, types: readonly WebhookEventType[], outcome: WebhookOutcome): void {
    for (const t of types) bump(this.#requests, [appId, t, outcome].join(SEP), 1);
    for (const l of this.#listeners) l.request?.(appId, types, outcome);
  }

  retry(appId: string): void {
    bump(this.#retries, appId, 1);
    for (const l of this.#listeners) l.retry?.(appId);
  }

  dropped(appId: string, reason: WebhookDropReason, events: number, requests: number, detail: string): void {
    const key = appId + SEP + reason;
    const d = this.#dropped.get(key) ?? { events: 0, requests: 0 };
    d.events += events;
    d.requests += requests;
    this.#dropped.set(key, d);
    this.#logDrop(key, appId, reason, events, detail);
    for (const l of this.#listeners) l.dropped?.(appId, reason, events, requests);
  }

  #logDrop(key: string, appId: string, reason: WebhookDropReason, events: number, detail: string): void {
    const now = this.now();
    const last = this.#dropLog.get(key);
    if (last !== undefined && now - last.atMs < DROP_LOG_EVERY_MS) {
      last.folded += events;
      return;
    }
    const foldedSinceLast = last?.folded ?? 0;
    this.#dropLog.set(key, { atMs: now, folded: 0 });
    this.logger.warn({ app: appId, reason, events, foldedSinceLast, detail }, 'webhook events dropped');
  }

  snapshot(): WebhookStatsSnapshot {
    const { queue, held } = this.depth();
    return {
      requests: [...this.#requests].map(([k, count]) => {
        const [appId = '', event, outcome] = k.split(SEP);
        return { appId, event: event as WebhookEventType, outcome: outcome as WebhookOutcome, count };
      }),
      retries: [...this.#retries].map(([appId, count]) => ({ appId, count })),
      dropped: [...this.#dropped].map(([k, d]) => {
        const [appId = '', reason] = k.split(SEP);
        return { appId, reason: reason as WebhookDropReason, ...d };
      }),
      queue,
      held,
    };
  }
}

function bump(map: Map<string, number>, key: string, n: number): void {
  map.set(key, (map.get(key) ?? 0) + n);
}
