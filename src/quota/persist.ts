/**
 * Keeps the DailyMeter's counts on disk so a restart never hands an app a fresh quota.
 * start() loads `stateDir/usage.json` before the server counts anything, then a timer writes
 * a snapshot every `flushEveryMs` when something changed; stop() waits for any write in flight
 * and writes once more. Counting itself never waits for I/O. Worst case on a crash (SIGKILL,
 * OOM, power loss): the counts of the last `flushEveryMs`.
 */
import { mkdir } from 'node:fs/promises';
import type { Logger } from '../log.js';
import { dayString, type DailyMeter, type UsageSnapshot } from './daily.js';
import { writeFileAtomic } from '../state/atomic-file.js';
import { encodeUsage, readUsageFile, usagePath, UsageFileError } from './usage-file.js';

export interface UsageStoreOptions {
  readonly stateDir: string;
  readonly flushEveryMs: number;
  readonly meter: DailyMeter;
  readonly logger: Logger;
  readonly now: () => number;
  /**
   * The cluster keeps the day's total (quota/cluster-usage.ts). A handover then adds nothing at
   * adopt(): the old node synced what it counted before releasing, and a local add would be
   * synced again (counted twice).
   */
  readonly sharedCount?: boolean;
}

export class UsageStore {
  readonly path: string;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  #savedVersion = -1;
  #failing = false;
  /** Only the owner of the state directory writes the file (set by adopt()). */
  #owner = false;
  /** Set by preview(): the directory is being handed over from a process that still counts. */
  #handover = false;
  #previewed: UsageSnapshot | undefined;

  constructor(readonly options: UsageStoreOptions) {
    this.path = usagePath(options.stateDir);
  }

  /** Creates the state directory and restores today's counts. Throws UsageFileError when it cannot. */
  async start(): Promise<void> {
    await this.prepare();
    await this.adopt();
  }

  /** Creates the state directory (mode 0700). */
  async prepare(): Promise<void> {
    const { stateDir } = this.options;
    try {
      await mkdir(stateDir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new UsageFileError(`state directory ${stateDir} cannot be created: ${(err as Error).message}`);
    }
  }

  /**
   * During a handover, before this process owns the directory: adds the counts the old process
   * has saved so far, so quotas hold while both serve. adopt() later adds only what the old
   * process counted after this read. Writes nothing.
   */
  async preview(): Promise<void> {
    this.#handover = true;
    const saved = await readUsageFile(this.path);
    if (saved !== undefined && this.options.meter.restore(saved)) this.#previewed = saved;
  }

  /**
   * Restores today's counts from the file (less what preview() added) and starts the periodic
   * flush. Call once this process owns the state directory.
   */
  async adopt(): Promise<void> {
    const { meter, logger, flushEveryMs } = this.options;
    const saved = await readUsageFile(this.path);
    if (saved !== undefined && this.#handover && this.options.sharedCount === true) {
      logger.info({ file: this.path, day: dayString(saved.day) }, 'message usage handed over: the cluster total already holds the old process\'s counts');
    } else if (saved !== undefined) {
      const restored = meter.restore(since(saved, this.#previewed));
      logger.info(
        { file: this.path, day: dayString(saved.day), apps: Object.fromEntries(saved.used), restored },
        restored ? 'restored message usage for today' : 'ignored message usage from an earlier day',
      );
    }
    if (!this.#handover) this.#savedVersion = meter.version; // else: counted during the handover, write soon
    this.#owner = true;
    this.#timer = setInterval(() => void this.flush(), flushEveryMs);
    this.#timer.unref();
  }

  /**
   * Writes a snapshot if anything was counted since the last write; one write at a time.
   * Failures are logged (once until a write succeeds again) and retried on the next tick.
   */
  flush(): Promise<void> {
    if (this.#inFlight !== undefined) return this.#inFlight;
    if (!this.#owner) return Promise.resolve();
    const { meter } = this.options;
    const version = meter.version;
    if (version === this.#savedVersion) return Promise.resolve();
    const text = encodeUsage(meter.snapshot(), this.options.now());
    this.#inFlight = writeFileAtomic(this.path, text)
      .then(
        () => this.#saved(version),
        (err: unknown) => this.#failed(err),
      )
      .finally(() => {
        this.#inFlight = undefined;
      });
    return this.#inFlight;
  }

  #saved(version: number): void {
    this.#savedVersion = version;
    if (this.#failing) this.options.logger.info({ file: this.path }, 'message usage is being saved again');
    this.#failing = false;
  }

  #failed(err: unknown): void {
    if (!this.#failing) {
      this.options.logger.error({ err, file: this.path }, 'cannot save message usage; counts stay in memory and the write is retried');
    }
    this.#failing = true;
  }

  /**
   * Stops the timer and writes the final counts (after any write in flight). Rejects when the
   * final write fails, so a shutdown reports that the last counts were not saved.
   */
  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#inFlight;
    if (!this.#owner) throw new UsageFileError(`message usage counted here was not saved: ${this.options.stateDir} was never handed over to this process`);
    await this.flush();
    if (this.#failing) throw new UsageFileError(`the final message usage could not be saved to ${this.path}`);
  }
}

/** What `now` counts beyond `before` (both read from the same file), per app; all of `now` from another day. */
function since(now: UsageSnapshot, before: UsageSnapshot | undefined): UsageSnapshot {
  if (before === undefined || before.day !== now.day) return now;
  const used = new Map<string, number>();
  for (const [appId, n] of now.used) used.set(appId, Math.max(0, n - (before.used.get(appId) ?? 0)));
  return { day: now.day, used };
}
