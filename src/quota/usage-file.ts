/**
 * The usage file under `stateDir`: today's message counts per app, as JSON
 * `{ "version": 1, "day": "YYYY-MM-DD", "savedAt": ISO, "apps": { "<app id>": <count> } }`.
 * Writes are atomic (temp file, fsync, rename, fsync of the directory), so a reader sees the
 * old file or the new one, never a torn one. A file that exists but cannot be read as usage is
 * an error, never an empty usage: starting from zero would hand every app a fresh quota.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { DAY_MS, dayString, type UsageSnapshot } from './daily.js';

export const USAGE_FILE = 'usage.json';
const FORMAT_VERSION = 1;
const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

export class UsageFileError extends Error {
  override readonly name = 'UsageFileError';
}

export function usagePath(stateDir: string): string {
  return join(stateDir, USAGE_FILE);
}

export function encodeUsage(snapshot: UsageSnapshot, savedAtMs: number): string {
  const apps = Object.fromEntries(snapshot.used); // defines own properties: an app id "__proto__" is kept
  return `${JSON.stringify({ version: FORMAT_VERSION, day: dayString(snapshot.day), savedAt: new Date(savedAtMs).toISOString(), apps }, null, 2)}\n`;
}

const COUNT_PROBLEM = 'must be a whole number ≥ 0';

/** Days since the epoch of a `YYYY-MM-DD` string naming a real calendar day. */
const DAY_SCHEMA = z
  .string({ error: 'must be a YYYY-MM-DD string' })
  .regex(DAY, { error: 'must be a YYYY-MM-DD string' })
  .transform((day, ctx) => {
    const [, y, m, d] = DAY.exec(day) ?? [];
    const dayMs = Date.UTC(Number(y), Number(m) - 1, Number(d));
    if (dayString(dayMs / DAY_MS) === day) return dayMs / DAY_MS;
    ctx.addIssue({ code: 'custom', message: `${day} is not a calendar date`, input: day });
    return z.NEVER;
  });

/**
 * The file's shape. `apps` becomes a Map before it is checked, so an app id named like an
 * Object.prototype member ("__proto__") is a key like any other.
 */
const USAGE_SCHEMA = z.object(
  {
    version: z.literal(FORMAT_VERSION, { error: (issue) => `is unsupported version ${JSON.stringify(issue.input)} (expected ${FORMAT_VERSION})` }),
    day: DAY_SCHEMA,
    apps: z.preprocess(
      (apps) => (typeof apps === 'object' && apps !== null && !Array.isArray(apps) ? new Map(Object.entries(apps)) : apps),
      z.map(z.string(), z.int({ error: COUNT_PROBLEM }).min(0, { error: COUNT_PROBLEM }), { error: 'must be an object of counts' }),
    ),
  },
  { error: 'must be a JSON object' },
);

/** Parses the file's text; throws UsageFileError naming `source`, the field and what is wrong. */
export function decodeUsage(text: string, source: string): UsageSnapshot {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new UsageFileError(`${source} is not valid JSON (${(err as Error).message})`);
  }
  const result = USAGE_SCHEMA.safeParse(raw);
  if (result.success) return { day: result.data.day, used: result.data.apps };
  const issue = result.error.issues[0];
  const path = issue?.path.map(String).join('.') ?? '';
  throw new UsageFileError(`${source}: ${path ? `"${path}" ` : ''}${issue?.message ?? 'is not a usage file'}`);
}

/** Reads the usage file; undefined when it does not exist. */
export async function readUsageFile(path: string): Promise<UsageSnapshot | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new UsageFileError(`${path} cannot be read: ${(err as Error).message}`);
  }
  return decodeUsage(text, path);
}

