/**
 * The webhook building blocks without a server: the body and headers the official `pusher` SDK
 * accepts, the vacated/member_removed hold, batching, the bounded outbox, the retry schedule
 * and the state file.
 */
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Pusher from 'pusher';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { App } from '../../src/apps/registry.js';
import { parseConfig, type WebhookTarget } from '../../src/config/config.js';
import { Batcher } from '../../src/webhooks/batcher.js';
import { DelayLine } from '../../src/webhooks/delay.js';
import { backoffMs, MAX_BACKOFF_MS, nextAttemptAt } from '../../src/webhooks/delivery.js';
import { encodeBody, webhookHeaders, type WebhookEvent } from '../../src/webhooks/events.js';
import { Outbox, type Delivery } from '../../src/webhooks/outbox.js';
import { DROP_LOG_EVERY_MS, WebhookStats } from '../../src/webhooks/stats.js';
import { loadState, saveState, STATE_VERSION } from '../../src/webhooks/store.js';
import type { Logger } from '../../src/log.js';

function appWith(webhooks: unknown[]): App {
  const config = parseConfig({ apps: [{ id: 'a1', key: 'k1', secret: 's3cr3t-xxxxxxxxx', webhooks }] }, 'unit');
  return config.apps[0] as App;
}

const sdk = new Pusher({ appId: 'a1', key: 'k1', secret: 's3cr3t-xxxxxxxxx', host: '127.0.0.1' });

/** What node:http hands a receiver: lower-case header names. */
function lower(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}

afterEach(() => {
  vi.useRealTimers();
});

describe('webhook body and headers', () => {
  const app = appWith([{ url: 'http://127.0.0.1:1/hook', headers: { 'X-Extra': 'yes', 'content-type': 'text/plain' } }]);
  const target = app.webhooks[0] as WebhookTarget;
  const events: WebhookEvent[] = [
    { name: 'channel_occupied', channel: 'orders' },
    { name: 'client_event', channel: 'presence-room', event: 'client-typing', data: { a: 'é' }, socket_id: '1.2', user_id: 'u1' },
    { name: 'client_event', channel: 'private-x', event: 'client-ping', data: 'already a string', socket_id: '3.4' },
  ];
  const body = encodeBody(1_700_000_000_123, events);
  const headers = webhookHeaders(app, target, body);

  it('is accepted by the pusher SDK and rejected once the body changes', () => {
    expect(sdk.webhook({ headers: lower(headers), rawBody: body }).isValid()).toBe(true);
    expect(sdk.webhook({ headers: lower(headers), rawBody: body.replace('orders', 'orderz') }).isValid()).toBe(false);
    const wrong = new Pusher({ appId: 'a1', key: 'k1', secret: 'other', host: '127.0.0.1' });
    expect(wrong.webhook({ headers: lower(headers), rawBody: body }).isValid()).toBe(false);
  });

  it('sends Content-Type exactly application/json and keeps extra headers without letting them override', () => {
    expect(headers['Content-Type']).toBe('application/json');
    expect(headers['content-type']).toBeUndefined();
    expect(headers['X-Extra']).toBe('yes');
    expect(headers['X-Pusher-Key']).toBe('k1');
    expect(headers['X-Pusher-Signature']).toMatch(/^[0-9a-f]{64}$/);
  });

  it('carries time_ms and Pusher event fields; client event data is a string, user_id only on presence', () => {
    const parsed = JSON.parse(body) as { time_ms: number; events: Array<Record<string, unknown>> };
    expect(parsed.time_ms).toBe(1_700_000_000_123);
    expect(parsed.events).toEqual([
      { name: 'channel_occupied', channel: 'orders' },
      { name: 'client_event', channel: 'presence-room', event: 'client-typing', data: '{"a":"é"}', socket_id: '1.2', user_id: 'u1' },
      { name: 'client_event', channel: 'private-x', event: 'client-ping', data: 'already a string', socket_id: '3.4' },
    ]);
  });
});

describe('DelayLine (channel_vacated / member_removed hold)', () => {
  it('releases after the delay, not before, in order', () => {
    vi.useFakeTimers();
    const out: string[] = [];
    const line = new DelayLine<string>(300, Date.now, (v) => out.push(v));
    line.hold('a', 'A');
    vi.advanceTimersByTime(100);
    line.hold('b', 'B');
    vi.advanceTimersByTime(199);
    expect(out).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(out).toEqual(['A']);
    vi.advanceTimersByTime(100);
    expect(out).toEqual(['A', 'B']);
  });

  it('drops an entry cancelled within the window and still releases the ones behind it', () => {
    vi.useFakeTimers();
    const out: string[] = [];
    const line = new DelayLine<string>(300, Date.now, (v) => out.push(v));
    line.hold('a', 'A');
    line.hold('b', 'B');
    expect(line.cancel('a')).toBe(true);
    expect(line.cancel('a')).toBe(false);
    vi.advanceTimersByTime(300);
    expect(out).toEqual(['B']);
    expect(line.size).toBe(0);
  });

  it('drains with due times for persisting, and drains even when the injected clock stands still', () => {
    vi.useFakeTimers();
    const frozen = () => 1000;
    const out: string[] = [];
    const line = new DelayLine<string>(300, frozen, (v) => out.push(v));
    line.hold('a', 'A');
    expect(line.drain()).toEqual([{ key: 'a', dueAtMs: 1300, value: 'A' }]);
    line.hold('b', 'B');
    vi.advanceTimersByTime(300);
    expect(out).toEqual(['B']);
  });
});

describe('Batcher', () => {
  const app = appWith([{ url: 'http://127.0.0.1:1/a' }, { url: 'http://127.0.0.1:1/b' }]);
  const [ta, tb] = app.webhooks as [WebhookTarget, WebhookTarget];

  it('sends at most maxEvents per request and flushes the rest after batchMs', () => {
    vi.useFakeTimers();
    const flushed: Array<[string, number]> = [];
    const b = new Batcher({ batchMs: 250, maxEvents: 3 }, (_app, t, events) => flushed.push([t.url, events.length]));
    for (let i = 0; i < 4; i++) b.add(app, ta, { name: 'channel_occupied', channel: `c${i}` });
    b.add(app, tb, { name: 'channel_occupied', channel: 'other' });
    vi.advanceTimersByTime(0);
    expect(flushed).toEqual([[ta.url, 3], [ta.url, 1]]);
    vi.advanceTimersByTime(250);
    expect(flushed).toEqual([[ta.url, 3], [ta.url, 1], [tb.url, 1]]);
  });

  it('de-duplicates cache_miss for one channel within a batch', () => {
    vi.useFakeTimers();
    const flushed: WebhookEvent[][] = [];
    const b = new Batcher({ batchMs: 50, maxEvents: 20 }, (_a, _t, events) => flushed.push(events));
    b.add(app, ta, { name: 'cache_miss', channel: 'cache-x' });
    b.add(app, ta, { name: 'cache_miss', channel: 'cache-x' });
    b.add(app, ta, { name: 'cache_miss', channel: 'cache-y' });
    vi.advanceTimersByTime(50);
    expect(flushed).toEqual([[{ name: 'cache_miss', channel: 'cache-x' }, { name: 'cache_miss', channel: 'cache-y' }]]);
  });
});

function delivery(id: number, events: number): Delivery {
  return { id, appId: 'a1', url: 'u', body: '{}', types: ['channel_occupied'], events, createdAtMs: 0, attempts: 0, nextAttemptAtMs: 0, inFlight: false };
}

describe('Outbox', () => {
  it('drops the oldest requests that are not in flight when over its bound, and reports them', () => {
    const o = new Outbox();
    const [d1, d2, d3, d4] = [delivery(1, 5), delivery(2, 5), delivery(3, 5), delivery(4, 5)];
    for (const d of [d1, d2, d3]) {
      o.add(d);
      o.markReady(d);
    }
    expect(o.take()).toBe(d1);
    o.add(d4);
    expect(o.trim(10).map((d) => d.id)).toEqual([2, 3]);
    expect(o.events).toBe(10);
    expect(o.requests).toBe(2);
    expect(o.take()).toBeUndefined();
    o.landed(d1);
    o.remove(d1);
    expect(o.events).toBe(5);
  });
});

describe('retry schedule', () => {
  it('doubles from the initial wait up to the cap', () => {
    expect([1, 2, 3, 4].map((n) => backoffMs(n, 1000))).toEqual([1000, 2000, 4000, 8000]);
    expect(backoffMs(30, 1000)).toBe(MAX_BACKOFF_MS);
  });

  it('gives a last attempt at the end of the window and none after it', () => {
    expect(nextAttemptAt(1000, 0, 1, 100, 5000)).toBe(1100);
    expect(nextAttemptAt(4900, 0, 10, 100, 5000)).toBe(5000);
    expect(nextAttemptAt(5000, 0, 11, 100, 5000)).toBeUndefined();
  });
});

describe('state file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'herald-wh-'));
  const file = join(dir, 'sub', 'webhooks.json');
  const d = { appId: 'a1', url: 'http://x', body: '{"time_ms":1,"events":[]}', types: ['channel_occupied' as const], events: 1, createdAtMs: 5, attempts: 2, nextAttemptAtMs: 9 };

  it('round-trips deliveries and held events, leaving no temp file', async () => {
    const held = [{ appId: 'a1', name: 'member_removed' as const, channel: 'presence-r', userId: 'u', dueAtMs: 7 }];
    await saveState(file, { version: STATE_VERSION, savedAtMs: 1, deliveries: [d], held });
    expect(readdirSync(join(dir, 'sub'))).toEqual(['webhooks.json']);
    expect(await loadState(file)).toEqual({ deliveries: [d], held, skipped: 0 });
  });

  it('skips malformed entries, rejects a foreign file, and removes the file when nothing is pending', async () => {
    writeFileSync(file, JSON.stringify({ version: STATE_VERSION, deliveries: [d, { appId: 1 }], held: [{ name: 'member_removed' }] }));
    expect(await loadState(file)).toEqual({ deliveries: [d], held: [], skipped: 2 });
    writeFileSync(file, '{"version":99}');
    await expect(loadState(file)).rejects.toThrow(/version/);
    await saveState(file, { version: STATE_VERSION, savedAtMs: 1, deliveries: [], held: [] });
    expect(existsSync(file)).toBe(false);
    expect(await loadState(file)).toBeUndefined();
  });
});

describe('WebhookStats', () => {
  it('counts every drop exactly and logs it, folding a burst into the next line instead of one line per drop', () => {
    let now = 0;
    const lines: Array<Record<string, unknown>> = [];
    const logger = { warn: (fields: Record<string, unknown>) => lines.push(fields) } as unknown as Logger;
    const stats = new WebhookStats(logger, () => now, () => ({ queue: [], held: 0 }));
    const heard: number[] = [];
    stats.listen({ dropped: (_app, _reason, events) => heard.push(events) });
    stats.dropped('a1', 'overflow', 20, 1, 'full');
    stats.dropped('a1', 'overflow', 20, 1, 'full');
    stats.dropped('a1', 'expired', 3, 1, 'down');
    now += DROP_LOG_EVERY_MS;
    stats.dropped('a1', 'overflow', 5, 1, 'full');
    expect(heard).toEqual([20, 20, 3, 5]);
    expect(stats.snapshot().dropped).toEqual([
      { appId: 'a1', reason: 'overflow', events: 45, requests: 3 },
      { appId: 'a1', reason: 'expired', events: 3, requests: 1 },
    ]);
    expect(lines.map((l) => [l.reason, l.events, l.foldedSinceLast])).toEqual([
      ['overflow', 20, 0],
      ['expired', 3, 0],
      ['overflow', 5, 20],
    ]);
  });
});
