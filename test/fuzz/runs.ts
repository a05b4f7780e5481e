/**
 * How hard the fuzz tests push: FUZZ_RUNS cases per property (default 1000, which keeps the
 * whole test/fuzz folder well under 20 s on a 2-core machine, where vitest runs the files one
 * after another; `npm run fuzz` uses 50000).
 * Expensive targets take a fraction of it via `runs(scale)`. FUZZ_SEED replays a failure.
 */
import fc from 'fast-check';
import type { IAsyncProperty, IProperty } from 'fast-check';

const parsed = Number(process.env.FUZZ_RUNS ?? 1000);
export const RUNS = Number.isFinite(parsed) && parsed >= 1 ? Math.floor(parsed) : 1000;

const seed = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);

/** Cases for a property that is `scale` times as expensive to budget as a plain one (never fewer than 10). */
export function runs(scale = 1): number {
  return Math.max(10, Math.round(RUNS * scale));
}

/** A test timeout that grows with FUZZ_RUNS: `msPerRun` is a generous bound on one case. */
export function timeout(scale = 1, msPerRun = 5): number {
  return Math.max(20_000, Math.ceil(runs(scale) * msPerRun * 4));
}

/** fc.assert with the case count for `scale` (and FUZZ_SEED when set). */
export function check<Ts extends [unknown, ...unknown[]]>(prop: IProperty<Ts>, scale = 1): void {
  fc.assert(prop, { numRuns: runs(scale), ...(seed === undefined ? {} : { seed }) });
}

/** As `check`, for async properties. */
export async function checkAsync<Ts extends [unknown, ...unknown[]]>(prop: IAsyncProperty<Ts>, scale = 1): Promise<void> {
  await fc.assert(prop, { numRuns: runs(scale), ...(seed === undefined ? {} : { seed }) });
}
