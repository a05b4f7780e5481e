/**
 * One running server per state directory: `stateDir/herald.lock` holds the pid of the Herald
 * that owns the directory. It is created atomically and whole (the pid is written to a private
 * temp file, then hard-linked to the lock name, which fails if the name exists), so a reader
 * never sees an empty lock. A lock whose pid is no longer running (a crash, SIGKILL, the exit
 * backstop) is stale and taken over. Known limit: a pid reused by an unrelated process makes a
 * stale lock look live; the refusal names the pid so an operator can check and delete the file.
 */
import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';

export const LOCK_FILE = 'herald.lock';

/** The directory is owned by another live Herald; the CLI prints the message and exits 1. */
export class StateDirLocked extends Error {
  override readonly name = 'StateDirLocked';
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(
      `stateDir ${dir} is in use by another Herald (pid ${pid}, lock file ${join(dir, LOCK_FILE)}). ` +
        'Give this server its own stateDir, or start it with --take-over to hand the directory over from that process.',
    );
  }
}

/** True while a process with this pid exists (EPERM: it exists but belongs to someone else). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class StateDirLock {
  readonly path: string;
  #held = false;

  constructor(
    readonly dir: string,
    readonly logger: Logger,
  ) {
    this.path = join(dir, LOCK_FILE);
  }

  /** Whether this process owns the directory. */
  get held(): boolean {
    return this.#held;
  }

  /**
   * Takes the lock; a stale one (dead pid) is removed first, with a log line. Returns undefined
   * when this process now holds it, or the pid of the live Herald that does.
   */
  async claim(): Promise<number | undefined> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    for (;;) {
      if (await this.#create()) {
        this.#held = true;
        return undefined;
      }
      const holder = await this.holder();
      if (holder === undefined) continue; // released in between: try again
      if (holder > 0 && holder !== process.pid && pidAlive(holder)) return holder;
      this.logger.warn({ stateDir: this.dir, lockFile: this.path, stalePid: holder }, 'stateDir lock left by a process that is no longer running; taking it over');
      await this.#removeIf(holder);
    }
  }

  /** The pid in the lock file; undefined when there is none. A file without a pid counts as pid 0 (stale). */
  async holder(): Promise<number | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return /^\d+$/.test(text.trim()) ? Number(text.trim()) : 0;
  }

  /**
   * Waits until `pid` no longer holds the lock (it released it, or it died), then claims it.
   * `cancelled` is polled so a stop can end the wait. Resolves false when cancelled; rejects
   * with StateDirLocked when a third process claimed the directory first.
   */
  async waitAndClaim(pid: number, cancelled: () => boolean, everyMs = 25): Promise<boolean> {
    while (!cancelled()) {
      const holder = await this.holder();
      if (holder !== pid || !pidAlive(pid)) {
        const other = await this.claim();
        if (other === undefined) return true;
        if (other !== pid) throw new StateDirLocked(this.dir, other);
      }
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
    return false;
  }

  /** Removes the lock if this process holds it. */
  async release(): Promise<void> {
    if (!this.#held) return;
    this.#held = false;
    await this.#removeIf(process.pid);
  }

  async #create(): Promise<boolean> {
    const tmp = `${this.path}.${process.pid}.tmp`;
    await writeFile(tmp, `${process.pid}\n`, { mode: 0o600 });
    try {
      await link(tmp, this.path);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    } finally {
      await rm(tmp, { force: true });
    }
  }

  /** Removes the lock file only while it still names `pid` (never a lock someone else just took). */
  async #removeIf(pid: number): Promise<void> {
    if ((await this.holder()) === pid) await rm(this.path, { force: true });
  }
}
