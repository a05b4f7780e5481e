/**
 * Webhooks as Pusher sends them (protocol §9). As a CoreObserver it turns the core's O(1) hooks
 * into events: channel_vacated and member_removed are held for `delayMs` and cancelled (with
 * the matching channel_occupied / member_added) when the channel or member returns in time;
 * the rest go straight to the per-app, per-URL batcher. Flushed batches become requests in the
 * app's bounded outbox; delivery is asynchronous with back-off retries; each request counts one
 * message against the app's quota (retries are not counted again). stop() persists what is
 * still pending; start() restores it.
 */
import type { ClusterHolds } from '../adapter/holds.js';
import type { App, AppRegistry } from '../apps/registry.js';
import type { WebhookTarget } from '../config/config.js';
import type { CoreObserver } from '../connection/observer.js';
import type { Logger } from '../log.js';
import type { MessageMeter } from '../quota/meter.js';
import { Batcher } from './batcher.js';
import { DelayLine, type HeldEntry } from './delay.js';
import { nextAttemptAt, postWebhook, redactUrl } from './delivery.js';
import { encodeBody, eventTypes, wants, webhookHeaders, type WebhookEvent } from './events.js';
import { Outbox, type Delivery } from './outbox.js';
import { WebhookStats, type QueueDepth, type WebhookDropReason } from './stats.js';
import { loadState, quarantine, removeState, saveState, STATE_VERSION, type LoadedState, type StoredHeld } from './store.js';

export interface WebhookSettings {
  readonly webhookBatchMs: number;
  readonly webhookBatchMaxEvents: number;
  readonly webhookDelayMs: number;
  readonly webhookTimeoutMs: number;
  readonly webhookRetryInitialMs: number;
  readonly webhookRetryWindowSec: number;
  readonly webhookQueueMax: number;
  readonly webhookMaxInFlight: number;
}

export interface WebhookDeps {
  readonly settings: WebhookSettings;
  readonly apps: AppRegistry;
  readonly meter: MessageMeter;
  readonly logger: Logger;
  readonly now: () => number;
  /** Where pending work is saved on stop and read on start. */
  readonly stateFile: string;
  /** Makes the vacated/member_removed hold cluster-wide (several nodes); absent on one node. */
  readonly holds?: ClusterHolds;
}


/** A channel_vacated or member_removed waiting out the delay. */
interface Held {
  readonly app: App;
  readonly event:
    | { readonly name: 'channel_vacated'; readonly channel: string }
    | { readonly name: 'member_removed'; readonly channel: string; readonly user_id: string };
}

/** An occupied/added seen during a handover, before the old process's held events are known. */
interface Parked {
  readonly app: App;
  readonly event: WebhookEvent;
}

/** Time kept back from the shutdown deadline for writing the state file. */
const SAVE_MARGIN_MS = 500;

const vacatedKey = (app: App, channel: string): string => `v\u0000${app.id}\u0000${channel}`;
const memberKey = (app: App, channel: string, userId: string): string => `m\u0000${app.id}\u0000${channel}\u0000${userId}`;

export class WebhookDispatcher implements CoreObserver {
  readonly stats: WebhookStats;
  readonly #held: DelayLine<Held>;
  readonly #batcher: Batcher;
  readonly #outboxes = new Map<string, Outbox>();
  readonly #inFlight = new Set<Promise<void>>();
  #nextId = 1;
  #stopping = false;
  /** During a handover: arrivals not yet sent, until adopt() knows what the old process held. */
  #parked: Map<string, Parked> | undefined;

  constructor(readonly deps: WebhookDeps) {
    const s = deps.settings;
    this.stats = new WebhookStats(deps.logger, deps.now, () => ({ queue: this.#queueDepth(), held: this.#held.size }));
    this.#held = new DelayLine<Held>(s.webhookDelayMs, deps.now, (h) => this.#release(h));
    this.#batcher = new Batcher({ batchMs: s.webhookBatchMs, maxEvents: s.webhookBatchMaxEvents }, (app, target, events) =>
      this.#enqueue(app, target, events),
    );
  }

  // ---- CoreObserver: O(1), synchronous, nothing for apps without webhooks ----

  channelOccupied(app: App, channel: string): void {
    if (app.webhooks.length === 0) return;
    this.#arrived(app, vacatedKey(app, channel), { name: 'channel_occupied', channel });
  }

  channelVacated(app: App, channel: string): void {
    if (app.webhooks.length === 0) return;
    this.#hold(vacatedKey(app, channel), { app, event: { name: 'channel_vacated', channel } });
  }

  memberAdded(app: App, channel: string, userId: string): void {
    if (app.webhooks.length === 0) return;
    this.#arrived(app, memberKey(app, channel, userId), { name: 'member_added', channel, user_id: userId });
  }

  memberRemoved(app: App, channel: string, userId: string): void {
    if (app.webhooks.length === 0) return;
    this.#hold(memberKey(app, channel, userId), { app, event: { name: 'member_removed', channel, user_id: userId } });
  }

  #hold(key: string, held: Held): void {
    this.#held.hold(key, held);
    this.deps.holds?.mark(key, this.deps.settings.webhookDelayMs * 2 + 1000);
  }

  /** Occupied/added: dropped with the held vacated/removed when it comes back in time, on any node. */
  #arrived(app: App, key: string, event: WebhookEvent): void {
    if (this.#held.cancel(key)) {
      // Our own mark: take it so the holder's release finds none. If the cluster is unreachable the
      // mark expires on its own (ttl) and the release sends the pair: logged, not lost.
      this.deps.holds?.claim(key).catch((err: unknown) => this.#claimFailed(err, 'arrived'));
      return;
    }
    if (this.#parked !== undefined) {
      this.#parked.set(key, { app, event });
      return;
    }
    this.#arrivedHere(app, key, event);
  }

  /** An arrival with nothing held here: sent unless another node held (and now cancels) its pair. */
  #arrivedHere(app: App, key: string, event: WebhookEvent): void {
    const holds = this.deps.holds;
    if (holds === undefined) return this.#emit(app, event);
    holds.claim(key).then(
      (claimed) => !claimed && this.#emit(app, event),
      (err: unknown) => {
        this.#claimFailed(err, 'arrived');
        this.#emit(app, event); // cluster unreachable: better a pair than a lost event
      },
    );
  }

  clientEvent(app: App, channel: string, event: string, data: unknown, socketId: string, userId?: string): void {
    if (app.webhooks.length === 0) return;
    const e: WebhookEvent =
      userId === undefined
        ? { name: 'client_event', channel, event, data, socket_id: socketId }
        : { name: 'client_event', channel, event, data, socket_id: socketId, user_id: userId };
    this.#emit(app, e);
  }

  cacheMiss(app: App, channel: string): void {
    if (app.webhooks.length === 0) return;
    this.#emit(app, { name: 'cache_miss', channel });
  }

  subscriptionCount(app: App, channel: string, count: number): void {
    if (app.webhooks.length === 0) return;
    this.#emit(app, { name: 'subscription_count', channel, subscription_count: count });
  }

  // ---- lifecycle ----

  /** Restores work saved by the previous process; call before the transport accepts connections. */
  async start(): Promise<void> {
    const state = await this.#load();
    if (state !== undefined) this.#restore(state, []);
  }

  /**
   * A handover: this process serves while the old one still owns the state directory, so its
   * saved work is not known yet. Arrivals (occupied, member_added) are parked until adopt().
   */
  startHandover(): void {
    this.#parked = new Map();
  }

  /**
   * Loads the work the old process saved, once it has handed over. Its held events merge with
   * ours (ours win for the same key: they are newer). A parked arrival whose key the old process
   * held is a return (a client that moved here): no pair is sent and the old hold is dropped;
   * any other parked arrival is sent now.
   */
  async adopt(): Promise<void> {
    const parked = this.#parked ?? new Map<string, Parked>();
    this.#parked = undefined;
    const mine = this.#held.drain();
    const state = await this.#load();
    const theirs = this.#restore(state ?? { deliveries: [], held: [], skipped: 0 }, mine);
    const heldHere = new Set(mine.map((e) => e.key));
    for (const [key, p] of parked) {
      if (!theirs.has(key)) this.#arrivedHere(p.app, key, p.event);
      else if (!heldHere.has(key)) this.#held.cancel(key);
    }
  }

  /** The saved state, removed from disk once read; an unreadable file is moved aside. */
  async #load(): Promise<LoadedState | undefined> {
    const file = this.deps.stateFile;
    let state: LoadedState | undefined;
    try {
      state = await loadState(file);
    } catch (err) {
      const aside = await quarantine(file, this.deps.now());
      this.deps.logger.error({ err, file, movedTo: aside }, 'webhook state file unreadable; starting without it');
      return undefined;
    }
    if (state !== undefined) await removeState(file);
    return state;
  }

  /**
   * Stops sending, waits for requests in flight (each bounded by the request timeout), and
   * saves undelivered requests and held events. Call after the core has closed every
   * connection, so the vacated events that causes are held, saved and restored — a deploy
   * whose clients reconnect within the delay sends no webhook pair. Requests still in flight
   * when `deadlineMs` nears are saved too (sent again after the restart: at least once).
   */
  async stop(deadlineMs = Number.POSITIVE_INFINITY): Promise<void> {
    this.#stopping = true;
    this.#batcher.flushAll();
    const settled = await settleBy([...this.#inFlight], deadlineMs - SAVE_MARGIN_MS);
    if (!settled) this.deps.logger.warn({ inFlight: this.#inFlight.size }, 'webhook requests still in flight at shutdown are saved and will be sent again');
    const deliveries = [...this.#outboxes.values()].flatMap((o) => o.drain());
    const held = this.#held.drain().map(({ value, dueAtMs }) => toStoredHeld(value, dueAtMs));
    await saveState(this.deps.stateFile, {
      version: STATE_VERSION,
      savedAtMs: this.deps.now(),
      deliveries: deliveries.map(({ appId, url, body, types, events, createdAtMs, attempts, nextAttemptAtMs }) => ({
        appId, url, body, types, events, createdAtMs, attempts, nextAttemptAtMs,
      })),
      held,
    });
    if (deliveries.length > 0 || held.length > 0) {
      this.deps.logger.info({ requests: deliveries.length, held: held.length, file: this.deps.stateFile }, 'webhooks pending saved');
    }
  }

  // ---- events → batches → requests ----

  #emit(app: App, event: WebhookEvent): void {
    if (this.#stopping) return;
    for (const target of app.webhooks) if (wants(target, event)) this.#batcher.add(app, target, event);
  }

  /** A held event's delay is over: send it with the app's current webhooks (a reload may have changed them). */
  #release(h: Held): void {
    const app = this.deps.apps.byId(h.app.id);
    if (app === undefined) return;
    const key = h.event.name === 'channel_vacated' ? vacatedKey(app, h.event.channel) : memberKey(app, h.event.channel, h.event.user_id);
    const parked = this.#parked?.get(key);
    if (parked !== undefined) {
      this.#parked?.delete(key); // came and went during a handover: the pair, in order
      this.#arrivedHere(parked.app, key, parked.event);
    }
    const holds = this.deps.holds;
    if (holds === undefined) return this.#emit(app, h.event);
    holds.claim(key).then(
      (stillHeld) => stillHeld && this.#emit(app, h.event), // another node claimed it: the thing came back there
      (err: unknown) => {
        this.#claimFailed(err, 'released');
        this.#emit(app, h.event);
      },
    );
  }

  /** A cluster-wide hold could not be claimed (Redis unreachable); the event is sent rather than lost. */
  #claimFailed(err: unknown, when: 'arrived' | 'released'): void {
    this.deps.logger.warn({ err: (err as Error).message, when }, 'webhook hold could not be claimed in the cluster; sending the event');
  }

  #enqueue(app: App, target: WebhookTarget, events: WebhookEvent[]): void {
    const now = this.deps.now();
    this.#admit({
      id: this.#nextId++,
      appId: app.id,
      url: target.url,
      body: encodeBody(now, events),
      types: eventTypes(events),
      events: events.length,
      createdAtMs: now,
      attempts: 0,
      nextAttemptAtMs: now,
      inFlight: false,
    });
  }

  /** Adds a request to its app's outbox, dropping (and counting) the oldest on overflow. */
  #admit(d: Delivery): void {
    const outbox = this.#outbox(d.appId);
    outbox.add(d);
    const dropped = outbox.trim(this.deps.settings.webhookQueueMax);
    if (dropped.length > 0) {
      const events = dropped.reduce((n, x) => n + x.events, 0);
      this.stats.dropped(d.appId, 'overflow', events, dropped.length, `queue holds at most ${this.deps.settings.webhookQueueMax} events`);
    }
    this.#schedule(outbox, d);
  }

  #outbox(appId: string): Outbox {
    let o = this.#outboxes.get(appId);
    if (o === undefined) {
      o = new Outbox();
      this.#outboxes.set(appId, o);
    }
    return o;
  }

  // ---- delivery ----

  #schedule(outbox: Outbox, d: Delivery): void {
    if (this.#stopping || !outbox.has(d)) return;
    const wait = d.nextAttemptAtMs - this.deps.now();
    if (wait <= 0) {
      outbox.markReady(d);
      this.#pump(outbox);
      return;
    }
    d.retryTimer = setTimeout(() => {
      d.retryTimer = undefined;
      outbox.markReady(d);
      this.#pump(outbox);
    }, wait);
    d.retryTimer.unref();
  }

  #pump(outbox: Outbox): void {
    while (!this.#stopping && outbox.inFlight < this.deps.settings.webhookMaxInFlight) {
      const d = outbox.take();
      if (d === undefined) return;
      const p: Promise<void> = this.#attempt(outbox, d).then(
        () => this.#settled(outbox, p),
        (err: unknown) => {
          this.deps.logger.error({ err, app: d.appId }, 'webhook delivery failed unexpectedly');
          this.#settled(outbox, p);
        },
      );
      this.#inFlight.add(p);
    }
  }

  #settled(outbox: Outbox, p: Promise<void>): void {
    this.#inFlight.delete(p);
    this.#pump(outbox);
  }

  async #attempt(outbox: Outbox, d: Delivery): Promise<void> {
    const app = this.deps.apps.byId(d.appId);
    const target = app?.webhooks.find((t) => t.url === d.url);
    if (app === undefined || target === undefined) {
      outbox.landed(d);
      return this.#drop(outbox, d, 'unconfigured', 'the app or webhook URL is no longer configured');
    }
    if (d.attempts === 0) this.deps.meter.add(app, 1);
    d.attempts++;
    const result = await postWebhook(d.url, webhookHeaders(app, target, d.body), d.body, this.deps.settings.webhookTimeoutMs);
    outbox.landed(d);
    this.stats.request(app.id, d.types, result.outcome);
    if (result.outcome === 'success') return outbox.remove(d);
    const s = this.deps.settings;
    const next = nextAttemptAt(this.deps.now(), d.createdAtMs, d.attempts, s.webhookRetryInitialMs, s.webhookRetryWindowSec * 1000);
    if (next === undefined) {
      return this.#drop(outbox, d, 'expired', `${d.attempts} attempts failed within ${s.webhookRetryWindowSec} s; last: ${result.problem}`);
    }
    this.deps.logger.debug({ app: app.id, url: redactUrl(d.url), attempt: d.attempts, problem: result.problem }, 'webhook attempt failed; will retry');
    d.nextAttemptAtMs = next;
    this.stats.retry(app.id);
    this.#schedule(outbox, d);
  }

  #drop(outbox: Outbox, d: Delivery, reason: WebhookDropReason, detail: string): void {
    outbox.remove(d);
    this.stats.dropped(d.appId, reason, d.events, 1, `${detail} (${redactUrl(d.url)})`);
  }

  // ---- persistence ----

  /**
   * Holds the saved events together with `mine` (this process's, drained; they win for the same
   * key), in due order as the delay line needs, and admits the saved requests. Returns the keys
   * the saved state held.
   */
  #restore(state: LoadedState, mine: readonly HeldEntry<Held>[]): Set<string> {
    const theirs = new Set<string>();
    const entries: Array<{ key: string; value: Held; dueAtMs: number }> = [...mine];
    const taken = new Set(mine.map((e) => e.key));
    for (const h of state.held) {
      const app = this.deps.apps.byId(h.appId);
      if (app === undefined || app.webhooks.length === 0) continue;
      const restored = fromStoredHeld(app, h);
      if (restored === undefined) continue;
      theirs.add(restored.key);
      if (!taken.has(restored.key)) entries.push({ ...restored, dueAtMs: h.dueAtMs });
    }
    for (const e of entries.sort((a, b) => a.dueAtMs - b.dueAtMs)) this.#held.hold(e.key, e.value, e.dueAtMs);
    for (const d of state.deliveries) this.#admit({ ...d, id: this.#nextId++, inFlight: false });
    if (state.deliveries.length + state.held.length + state.skipped > 0) {
      this.deps.logger.info(
        { requests: state.deliveries.length, held: state.held.length, skipped: state.skipped, file: this.deps.stateFile },
        'webhooks pending restored',
      );
    }
    return theirs;
  }

  #queueDepth(): QueueDepth[] {
    return [...this.#outboxes].map(([appId, o]) => ({ appId, events: o.events, requests: o.requests }));
  }
}

function fromStoredHeld(app: App, h: StoredHeld): { key: string; value: Held } | undefined {
  if (h.name === 'channel_vacated') return { key: vacatedKey(app, h.channel), value: { app, event: { name: h.name, channel: h.channel } } };
  if (h.userId === undefined) return undefined;
  return { key: memberKey(app, h.channel, h.userId), value: { app, event: { name: h.name, channel: h.channel, user_id: h.userId } } };
}

function toStoredHeld(h: Held, dueAtMs: number): StoredHeld {
  const base = { appId: h.app.id, name: h.event.name, channel: h.event.channel, dueAtMs };
  return h.event.name === 'member_removed' ? { ...base, userId: h.event.user_id } : base;
}

/** Resolves true once every promise settled, false when `deadlineMs` came first. */
async function settleBy(promises: Promise<void>[], deadlineMs: number): Promise<boolean> {
  if (promises.length === 0) return true;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    if (Number.isFinite(deadlineMs)) timer = setTimeout(() => resolve(false), Math.max(0, deadlineMs - Date.now()));
  });
  try {
    return await Promise.race([Promise.allSettled(promises).then(() => true as const), late]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}
