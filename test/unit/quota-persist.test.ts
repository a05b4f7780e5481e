/**
 * The usage file and UsageStore against a real temporary directory: atomic writes, periodic
 * and final flushes, loading on start, and refusing a corrupt file instead of starting at zero.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig, type AppConfig } from '../../src/config/config.js';
import type { Logger } from '../../src/log.js';
import { DailyMeter, utcDay } from '../../src/quota/daily.js';
import { UsageStore } from '../../src/quota/persist.js';
import { decodeUsage, encodeUsage, readUsageFile, usagePath, UsageFileError } from '../../src/quota/usage-file.js';
import { writeFileAtomic } from '../../src/state/atomic-file.js';
import { waitFor } from '../helpers/wait.js';

const NOON = Date.UTC(2026, 10, 21, 12);
const app = parseConfig({ apps: [{ id: 'a1', key: 'k1', secret: 'secret-s-xxxxxxx' }] }, 'test').apps[0] as AppConfig;
const dirs: string[] = [];

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'herald-quota-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function logSink(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write: (c, _e, cb) => (lines.push(JSON.parse(String(c)) as Record<string, unknown>), cb()) });
  return { logger: pino({ level: 'info' }, sink) as Logger, lines };
}

function store(stateDir: string, meter: DailyMeter, flushEveryMs = 60_000, logger: Logger = pino({ level: 'silent' })): UsageStore {
  return new UsageStore({ stateDir, flushEveryMs, meter, logger, now: meter.now });
}

describe('usage file', () => {
  it('round-trips a snapshot and rejects malformed files with a message naming the file', () => {
    const snap = { day: utcDay(NOON), used: new Map([['a1', 7], ['b', 0]]) };
    const text = encodeUsage(snap, NOON);
    expect(JSON.parse(text)).toEqual({ version: 1, day: '2026-11-21', savedAt: '2026-11-21T12:00:00.000Z', apps: { a1: 7, b: 0 } });
    expect(decodeUsage(text, 'f')).toEqual(snap);
    const cases: Array<[string, RegExp]> = [
      ['{"version":1,"day":"2026-11-21","apps":{"a1":7}', /f is not valid JSON/],
      ['[]', /must be a JSON object/],
      ['{"version":2,"day":"2026-11-21","apps":{}}', /unsupported version 2/],
      ['{"version":1,"day":"yesterday","apps":{}}', /"day" must be a YYYY-MM-DD/],
      ['{"version":1,"day":"2026-02-30","apps":{}}', /not a calendar date/],
      ['{"version":1,"day":"2026-11-21","apps":{"a1":-1}}', /"apps.a1" must be a whole number/],
      ['{"version":1,"day":"2026-11-21","apps":{"a1":"7"}}', /"apps.a1" must be a whole number/],
    ];
    for (const [bad, message] of cases) expect(() => decodeUsage(bad, 'f')).toThrow(message);
  });

  it('replaces the file atomically and leaves no temporary file behind', async () => {
    const dir = tempDir();
    const path = usagePath(dir);
    expect(await readUsageFile(path)).toBeUndefined();
    await writeFileAtomic(path, 'one\n');
    await writeFileAtomic(path, 'two\n');
    expect(readFileSync(path, 'utf8')).toBe('two\n');
    expect(readdirSync(dir)).toEqual(['usage.json']);
  });
});

describe('UsageStore', () => {
  it('flushes periodically while running, so a crash loses at most one interval', async () => {
    const dir = tempDir();
    const meter = new DailyMeter(() => NOON);
    const s = store(dir, meter, 50);
    await s.start();
    meter.add(app, 5);
    await waitFor(() => existsSync(s.path) && readFileSync(s.path, 'utf8').includes('"a1": 5'), 'the periodic flush');
    meter.add(app, 2);
    await waitFor(() => readFileSync(s.path, 'utf8').includes('"a1": 7'), 'the second periodic flush');
    await s.stop();
  });

  it('writes the final count on stop and loads it on the next start, on the same day only', async () => {
    const dir = tempDir();
    const first = new DailyMeter(() => NOON);
    const s1 = store(dir, first);
    await s1.start();
    first.add(app, 41);
    await s1.stop();
    expect((await readUsageFile(s1.path))?.used.get('a1')).toBe(41);

    const { logger, lines } = logSink();
    const second = new DailyMeter(() => NOON + 3600_000);
    await store(dir, second, 60_000, logger).start();
    expect(second.used('a1')).toBe(41);
    expect(lines.some((l) => l.msg === 'restored message usage for today')).toBe(true);

    const tomorrow = new DailyMeter(() => NOON + 86_400_000);
    const s3 = store(dir, tomorrow);
    await s3.start();
    expect(tomorrow.used('a1')).toBe(0);
    await s3.stop();
  });

  it('refuses to start on a corrupt usage file instead of handing out a fresh quota', async () => {
    const dir = tempDir();
    writeFileSync(usagePath(dir), '{"version":1,"day":');
    await expect(store(dir, new DailyMeter(() => NOON)).start()).rejects.toThrow(UsageFileError);
    await expect(store(dir, new DailyMeter(() => NOON)).start()).rejects.toThrow(/usage\.json is not valid JSON/);
  });

  it('logs a failed write once, keeps counting, and makes stop report the lost final write', async () => {
    const dir = tempDir();
    const { logger, lines } = logSink();
    const meter = new DailyMeter(() => NOON);
    const s = store(dir, meter, 60_000, logger);
    await s.start();
    mkdirSync(s.path); // a directory where the file goes: the rename fails, even for root
    meter.add(app, 1);
    await s.flush();
    meter.add(app, 1);
    await s.flush();
    expect(lines.filter((l) => l.level === 50)).toHaveLength(1);
    expect(meter.used('a1')).toBe(2);
    await expect(s.stop()).rejects.toThrow(/could not be saved/);
    expect(readdirSync(dir)).toEqual(['usage.json']); // no temporary file left behind
  });
});
