/**
 * The usage file under `stateDir`: today's message counts per app, as JSON
 * `{ "version": 1, "day": "YYYY-MM-DD", "savedAt": ISO, "apps": { "<app id>": <count> } }`.
 * Writes are atomic (temp file, fsync, rename, fsync of the directory), so a reader sees the
 * old file or the new one, never a torn one. A file that exists but cannot be read as usage is
 * an error, never an empty usage: starting from zero would hand every app a fresh quota.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
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

/** Parses the file's text; throws UsageFileError naming `source` and what is wrong. */
export function decodeUsage(text: string, source: string): UsageSnapshot {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new UsageFileError(`${source} is not valid JSON (${(err as Error).message})`);
  }
  const bad = (what: string): UsageFileError => new UsageFileError(`${source}: ${what}`);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('must be a JSON object');
  const { version, day, apps } = raw as Record<string, unknown>;
  if (version !== FORMAT_VERSION) throw bad(`unsupported version ${JSON.stringify(version)} (expected ${FORMAT_VERSION})`);
  const m = typeof day === 'string' ? DAY.exec(day) : null;
  if (m === null) throw bad('"day" must be a YYYY-MM-DD string');
  const dayMs = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  if (dayString(dayMs / DAY_MS) !== day) throw bad(`"day" ${day} is not a calendar date`);
  if (typeof apps !== 'object' || apps === null || Array.isArray(apps)) throw bad('"apps" must be an object of counts');
  const used = new Map<string, number>();
  for (const [id, n] of Object.entries(apps)) {
    if (!Number.isSafeInteger(n) || (n as number) < 0) throw bad(`"apps.${id}" must be a whole number ≥ 0`);
    used.set(id, n as number);
  }
  return { day: dayMs / DAY_MS, used };
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

