/**
 * The quota arithmetic on its own, with an injected clock: the daily meter (UTC rollover,
 * 80 %/100 % crossings, snapshot/restore), the REST token bucket, and the usage report.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { parseConfig, type AppConfig } from '../../src/config/config.js';
import { DAY_MS, DailyMeter, logThresholds, utcDay, type QuotaThreshold } from '../../src/quota/daily.js';
import { RateLimiter, restRateLimit } from '../../src/quota/rate.js';
import { formatUsage, usageReport } from '../../src/quota/report.js';

const MIDNIGHT = Date.UTC(2026, 10, 21); // 2026-11-21T00:00:00Z

function makeApp(limits: Record<string, number> = {}, id = 'a1'): AppConfig {
  return parseConfig({ apps: [{ id, key: `${id}-key`, secret: 'shh-very-secret-', limits }] }, 'test').apps[0] as AppConfig;
}

function clock(start: number): { now: () => number; set: (ms: number) => void } {
  let t = start;
  return { now: () => t, set: (ms) => (t = ms) };
}

describe('DailyMeter', () => {
  it('counts per app, reports remaining and over, and resets at 00:00 UTC', () => {
    const c = clock(MIDNIGHT + DAY_MS - 1); // 23:59:59.999
    const meter = new DailyMeter(c.now);
    const app = makeApp({ maxMessagesPerDay: 10 });
    const other = makeApp({}, 'a2');
    meter.add(app, 4);
    meter.add(app, 6);
    meter.add(other, 1);
    expect(meter.used(app.id)).toBe(10);
    expect(meter.isOver(app)).toBe(true);
    expect(meter.remaining(app)).toBe(0);
    expect(meter.resetsAtMs()).toBe(MIDNIGHT + DAY_MS);
    c.set(MIDNIGHT + DAY_MS); // 00:00:00.000 the next day
    expect(meter.used(app.id)).toBe(0);
    expect(meter.used(other.id)).toBe(0);
    expect(meter.isOver(app)).toBe(false);
    expect(meter.remaining(app)).toBe(10);
    expect(meter.resetsAtMs()).toBe(MIDNIGHT + 2 * DAY_MS);
  });

  it('reports 80 % and 100 % once per app per day, and again the next day', () => {
    const c = clock(MIDNIGHT + 1000);
    const seen: Array<[string, QuotaThreshold, number]> = [];
    const meter = new DailyMeter(c.now, (app, pct, used) => seen.push([app.id, pct, used]));
    const app = makeApp({ maxMessagesPerDay: 10 });
    for (let i = 0; i < 7; i++) meter.add(app, 1);
    expect(seen).toEqual([]);
    meter.add(app, 1);
    expect(seen).toEqual([['a1', 80, 8]]);
    meter.add(app, 1);
    meter.add(app, 5); // jumps past 100 %
    meter.add(app, 5);
    expect(seen).toEqual([['a1', 80, 8], ['a1', 100, 14]]);
    c.set(MIDNIGHT + DAY_MS + 5);
    meter.add(app, 12); // both thresholds in one add
    expect(seen.slice(2)).toEqual([['a1', 80, 12], ['a1', 100, 12]]);
  });

  it('treats a quota of 0 as reached by the first message', () => {
    const seen: number[] = [];
    const meter = new DailyMeter(() => MIDNIGHT, (_a, pct) => seen.push(pct));
    const app = makeApp({ maxMessagesPerDay: 0 });
    expect(meter.isOver(app)).toBe(true);
    meter.add(app, 0);
    expect(seen).toEqual([]);
    meter.add(app, 1);
    meter.add(app, 1);
    expect(seen).toEqual([80, 100]);
  });

  it('restores counts from today or later, ignores an earlier day, and bumps its version on change', () => {
    const meter = new DailyMeter(() => MIDNIGHT + 5000);
    const app = makeApp();
    const v0 = meter.version;
    meter.add(app, 2);
    expect(meter.version).not.toBe(v0);
    const today = utcDay(MIDNIGHT);
    expect(meter.restore({ day: today - 1, used: new Map([['a1', 100]]) })).toBe(false);
    expect(meter.used('a1')).toBe(2);
    expect(meter.restore({ day: today, used: new Map([['a1', 40], ['gone', 3]]) })).toBe(true);
    expect(meter.used('a1')).toBe(42);
    expect(meter.restore({ day: today + 1, used: new Map([['a1', 1]]) })).toBe(true);
    const snap = meter.snapshot();
    expect(snap.day).toBe(today);
    expect([...snap.used]).toEqual([['a1', 43], ['gone', 3]]);
  });

  it('logs thresholds with the app id, limit and reset time and never the secret', () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _enc, cb) => (lines.push(String(chunk)), cb()) });
    const meter = new DailyMeter(() => MIDNIGHT + 1, logThresholds(pino({ level: 'info' }, sink)));
    const app = makeApp({ maxMessagesPerDay: 5 });
    meter.add(app, 4);
    meter.add(app, 1);
    meter.add(app, 1);
    expect(lines).toHaveLength(2);
    const [warn80, warn100] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(warn80).toMatchObject({ level: 40, app: 'a1', percent: 80, used: 4, limit: 5, resetsAt: '2026-11-22T00:00:00.000Z' });
    expect(warn80?.msg).toMatch(/80% of its daily message quota/);
    expect(warn100).toMatchObject({ percent: 100, used: 5 });
    expect(lines.join('')).not.toContain('shh-very-secret-');
  });
});

describe('RateLimiter', () => {
  it('allows perSec requests at once, then asks to retry after 1 s, and refills with the clock', () => {
    const c = clock(MIDNIGHT);
    const limiter = new RateLimiter(c.now);
    expect([0, 1, 2].map(() => limiter.take('a', 3))).toEqual([0, 0, 0]);
    expect(limiter.take('a', 3)).toBe(1);
    expect(limiter.take('b', 3)).toBe(0); // per key
    c.set(MIDNIGHT + 340); // a third of a second refills one token
    expect(limiter.take('a', 3)).toBe(0);
    expect(limiter.take('a', 3)).toBe(1);
    c.set(MIDNIGHT + 10_000); // never more than one second's worth
    expect([0, 1, 2, 3].map(() => limiter.take('a', 3))).toEqual([0, 0, 0, 1]);
  });

  it('becomes a 429 with Retry-After in seconds for the REST API', () => {
    const hook = restRateLimit(new RateLimiter(() => MIDNIGHT));
    const app = makeApp({ maxRestRequestsPerSec: 1 });
    expect(hook(app)).toBeUndefined();
    const err = hook(app);
    expect(err?.status).toBe(429);
    expect(err?.headers['Retry-After']).toBe('1');
    expect(err?.message).toMatch(/1 requests per second/);
  });
});

describe('usage report', () => {
  const config = parseConfig(
    { apps: [{ id: 'shop', key: 'k1', secret: 'secret-s-xxxxxxx', name: 'Shop', limits: { maxMessagesPerDay: 200_000 } }, { id: 'blog', key: 'k2', secret: 'secret-s-xxxxxxx' }] },
    'test',
  );
  const today = utcDay(MIDNIGHT);

  it('lists every configured app with used, limit, percentage and remaining, plus apps only in the file', () => {
    const r = usageReport(config, { day: today, used: new Map([['shop', 160_000], ['old', 5]]) }, MIDNIGHT + 3600_000);
    expect(r.day).toBe('2026-11-21');
    expect(r.resetsAt).toBe('2026-11-22T00:00:00.000Z');
    expect(r.apps).toEqual([
      { id: 'shop', name: 'Shop', used: 160_000, limit: 200_000, remaining: 40_000 },
      { id: 'blog', name: 'blog', used: 0, limit: 10_000_000, remaining: 10_000_000 },
      { id: 'old', name: '(not in config)', used: 5, limit: undefined, remaining: undefined },
    ]);
    const text = formatUsage(r);
    expect(text).toMatch(/^Messages today \(2026-11-21 UTC, resets 2026-11-22T00:00:00.000Z\)/);
    expect(text).toMatch(/shop\s+Shop\s+160000\s+200000\s+80\.0%\s+40000/);
  });

  it('shows zero for a file from an earlier day and says so', () => {
    const r = usageReport(config, { day: today - 1, used: new Map([['shop', 9]]) }, MIDNIGHT + 1);
    expect(r.apps[0]?.used).toBe(0);
    expect(formatUsage(r)).toMatch(/last written on 2026-11-20; nothing counted today yet/);
    expect(formatUsage(usageReport(config, undefined, MIDNIGHT))).toMatch(/no usage saved yet/);
  });
});
