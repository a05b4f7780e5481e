/**
 * Graceful-shutdown sequencing: named steps run in order under one deadline
 * (`shutdownGraceSec`). A step that throws or overruns is logged and the sequence goes on.
 * Waiting steps (drain delay, in-flight requests) must end FINAL_RESERVE early, so the final
 * steps (flushing state, closing the metrics port) still get time and the process exits in time.
 */
import type { Logger } from '../log.js';

export interface ShutdownStep {
  readonly name: string;
  /** A waiting step: its deadline is the grace deadline minus the final steps' reserve. */
  readonly wait?: boolean;
  /** Receives the step's absolute deadline (epoch ms) so waiting steps can bound themselves. */
  readonly run: (deadlineMs: number) => void | Promise<void>;
}

/** Time kept back from waiting steps for the final ones: a quarter of the grace, at most 1 s. */
export function finalReserveMs(graceMs: number): number {
  return Math.min(1000, Math.floor(graceMs / 4));
}

export interface ShutdownResult {
  readonly elapsedMs: number;
  /** Names of steps that threw or did not finish before the deadline. */
  readonly incomplete: readonly string[];
}

export async function runShutdown(steps: readonly ShutdownStep[], graceMs: number, logger: Logger): Promise<ShutdownResult> {
  const started = Date.now();
  const deadline = started + graceMs;
  const waitDeadline = deadline - finalReserveMs(graceMs);
  const incomplete: string[] = [];
  for (const step of steps) {
    const outcome = await runStep(step, step.wait ? waitDeadline : deadline);
    if (outcome === 'timeout') logger.warn({ step: step.name }, 'shutdown step did not finish before the grace period ended');
    else if (outcome !== 'done') logger.error({ step: step.name, err: outcome }, 'shutdown step failed');
    if (outcome !== 'done') incomplete.push(step.name);
  }
  return { elapsedMs: Date.now() - started, incomplete };
}

async function runStep(step: ShutdownStep, deadline: number): Promise<'done' | 'timeout' | Error> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const result = step.run(deadline);
    if (!(result instanceof Promise)) return 'done';
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), Math.max(0, deadline - Date.now()));
    });
    return await Promise.race([result.then(() => 'done' as const), timeout]);
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/** Resolves true once `done()` holds, or false at `deadlineMs`; checks every `everyMs`. */
export function waitUntil(done: () => boolean, deadlineMs: number, everyMs = 10): Promise<boolean> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (done()) return resolve(true);
      if (Date.now() >= deadlineMs) return resolve(false);
      setTimeout(check, Math.min(everyMs, Math.max(1, deadlineMs - Date.now())));
    };
    check();
  });
}

/** Resolves at `deadlineMs` (a plain wait, for the drain delay). */
export function waitFor(deadlineMs: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, deadlineMs - Date.now())));
}

/** Counts requests whose handler has not finished, so shutdown can wait for them. */
export class InFlight {
  #count = 0;

  get count(): number {
    return this.#count;
  }

  /** Tracks a pending result; synchronous results pass through untouched. */
  track<T>(result: T | Promise<T>): T | Promise<T> {
    if (!(result instanceof Promise)) return result;
    this.#count++;
    return result.finally(() => {
      this.#count--;
    });
  }
}
