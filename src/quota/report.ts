/**
 * `herald usage`: each configured app's message count today, read from the usage file a
 * running (or stopped) server keeps in `stateDir`. A running server writes it every
 * `usageFlushSec`, so the figures may trail the live count by that much.
 */
import type { HeraldConfig } from '../config/config.js';
import { dayString, utcDay, DAY_MS, type UsageSnapshot } from './daily.js';
import { readUsageFile, usagePath } from './usage-file.js';

export interface UsageRow {
  readonly id: string;
  readonly name: string;
  readonly used: number;
  /** undefined for an app that is in the usage file but no longer in the config. */
  readonly limit: number | undefined;
  readonly remaining: number | undefined;
}

export interface UsageReport {
  readonly day: string;
  readonly resetsAt: string;
  readonly file: string;
  /** What the file held: its day, or undefined when there is no file yet. */
  readonly savedDay: string | undefined;
  readonly apps: readonly UsageRow[];
}

export function usageReport(config: HeraldConfig, saved: UsageSnapshot | undefined, nowMs: number): UsageReport {
  const today = utcDay(nowMs);
  const used = saved !== undefined && saved.day >= today ? saved.used : new Map<string, number>();
  const rows: UsageRow[] = config.apps.map((app) => {
    const n = used.get(app.id) ?? 0;
    const limit = app.limits.maxMessagesPerDay;
    return { id: app.id, name: app.name, used: n, limit, remaining: Math.max(0, limit - n) };
  });
  const known = new Set(config.apps.map((a) => a.id));
  for (const [id, n] of used) if (!known.has(id)) rows.push({ id, name: '(not in config)', used: n, limit: undefined, remaining: undefined });
  return {
    day: dayString(today),
    resetsAt: new Date((today + 1) * DAY_MS).toISOString(),
    file: usagePath(config.stateDir),
    savedDay: saved === undefined ? undefined : dayString(saved.day),
    apps: rows,
  };
}

export function formatUsage(r: UsageReport): string {
  const source =
    r.savedDay === undefined
      ? `no usage saved yet in ${r.file}`
      : r.savedDay === r.day
        ? `from ${r.file}`
        : `${r.file} was last written on ${r.savedDay}; nothing counted today yet`;
  const header = ['app', 'name', 'used', 'limit', 'used %', 'remaining'];
  const cells = r.apps.map((a) => [
    a.id,
    a.name,
    String(a.used),
    a.limit === undefined ? '-' : String(a.limit),
    a.limit === undefined ? '-' : a.limit === 0 ? '100.0%' : `${((100 * a.used) / a.limit).toFixed(1)}%`,
    a.remaining === undefined ? '-' : String(a.remaining),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)));
  const line = (c: readonly string[]): string => c.map((v, i) => v.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [`Messages today (${r.day} UTC, resets ${r.resetsAt}), ${source}`, line(header), ...cells.map(line)].join('\n');
}

/** Reads the usage file for `config` and returns the report as text (or JSON). */
export async function usageCommand(config: HeraldConfig, nowMs: number, asJson: boolean): Promise<string> {
  const report = usageReport(config, await readUsageFile(usagePath(config.stateDir)), nowMs);
  return asJson ? JSON.stringify(report, null, 2) : formatUsage(report);
}
