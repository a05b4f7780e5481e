/**
 * Who owns the state directory (usage.json, webhooks.json) and how it changes hands on one
 * host. A plain start claims `stateDir/herald.lock` (state/lock.ts) before it loads anything and
 * refuses to start while a live Herald holds it. A take-over start (`herald start --take-over`)
 * instead: previews the holder's usage.json (quotas hold during the overlap), listens on the
 * shared port (SO_REUSEPORT), sends the holder SIGTERM, and when the holder has saved its
 * webhooks, flushed its usage and released the lock (or died), claims the lock and adopts both
 * files. Nothing is written to the directory by a process that does not hold the lock.
 */
import type { Logger } from '../log.js';
import { StateDirLocked, type StateDirLock } from '../state/lock.js';
import { waitUntil } from './shutdown.js';

export interface UsageState {
  start(): Promise<void>;
  prepare(): Promise<void>;
  preview(): Promise<void>;
  adopt(): Promise<void>;
}

export interface WebhookState {
  start(): Promise<void>;
  startHandover(): void;
  adopt(): Promise<void>;
}

export interface HandoverParts {
  readonly lock: StateDirLock;
  readonly usage: UsageState;
  readonly webhooks: WebhookState;
  readonly logger: Logger;
  /** Take the directory over from a live holder instead of refusing to start. */
  readonly takeOver: boolean;
  /** After this long without a release, a warning is logged (the wait goes on). */
  readonly warnAfterMs: number;
}

export class StateDirHandover {
  /** Settles once this process owns the directory (at once without a handover). */
  done: Promise<void> = Promise.resolve();
  #from: number | undefined;
  #waiting = false;
  #cancelled = false;

  constructor(readonly parts: HandoverParts) {}

  /**
   * Before the port opens. Claims the directory and loads it; or, taking over from a live
   * holder, only previews its usage. Throws StateDirLocked when it is held and this is no take-over.
   */
  async beforeListen(): Promise<void> {
    const { lock, usage, webhooks, takeOver } = this.parts;
    const holder = await lock.claim();
    if (holder !== undefined && !takeOver) throw new StateDirLocked(lock.dir, holder);
    if (holder === undefined) {
      await usage.start(); // today's counts are back before anything is counted
      await webhooks.start(); // pending deliveries and held vacated events are back before clients return
      return;
    }
    this.#from = holder;
    await usage.prepare();
    await usage.preview();
    webhooks.startHandover();
  }

  /** After the port opens (both processes serve): asks the holder to hand over, in the background. */
  afterListen(): void {
    const from = this.#from;
    if (from === undefined) return;
    this.#waiting = true;
    this.done = this.#takeOver(from).finally(() => {
      this.#waiting = false;
    });
    this.done.catch(() => {}); // the caller observes `done`; a stop reports it through finish()
  }

  async #takeOver(pid: number): Promise<void> {
    const { lock, usage, webhooks, logger, warnAfterMs } = this.parts;
    const started = Date.now();
    logger.info({ stateDir: lock.dir, pid }, 'taking over stateDir: asked the Herald holding it to stop (SIGTERM)');
    try {
      process.kill(pid, 'SIGTERM');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err; // gone already: its lock is stale
    }
    const slow = setTimeout(() => logger.warn({ stateDir: lock.dir, pid, waitedMs: Date.now() - started }, 'still waiting for the old Herald to release stateDir'), warnAfterMs);
    slow.unref();
    try {
      if (!(await lock.waitAndClaim(pid, () => this.#cancelled))) return;
    } finally {
      clearTimeout(slow);
    }
    await usage.adopt();
    await webhooks.adopt();
    logger.info({ stateDir: lock.dir, from: pid, waitedMs: Date.now() - started }, 'stateDir handed over');
  }

  /**
   * A shutdown step: waits (until `deadlineMs`) for a handover still under way, then gives up
   * on it. Throws when this process never came to own the directory, so the stop reports that
   * what it counted and queued was not saved.
   */
  async finish(deadlineMs: number): Promise<void> {
    await waitUntil(() => !this.#waiting, deadlineMs);
    this.#cancelled = true;
    const { lock } = this.parts;
    if (!lock.held) throw new Error(`stateDir ${lock.dir} was never handed over by pid ${this.#from}: usage counted and webhooks queued here are not saved`);
  }
}
