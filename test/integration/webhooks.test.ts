/**
 * Issue 7: webhooks against a real local HTTP receiver that checks every request with the
 * official `pusher` SDK's `webhook({ headers, rawBody }).isValid()`. Delays and retry windows
 * are shortened through config (delay 300 ms, batch 50 ms, retry window 1 s) so the file runs
 * in a few seconds.
 */
import { mkdtempSync, existsSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Pusher from 'pusher';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebhookDropReason, WebhookStatsSnapshot } from '../../src/webhooks/stats.js';
import { freePort } from '../helpers/ports.js';
import { APP, FrameReader, rawConnect, startServer, type TestServer } from '../helpers/server.js';

type Cred = { id: string; key: string; secret: string };
type Ev = Record<string, unknown> & { name: string; channel: string };

interface Hook {
  readonly path: string;
  readonly key: string;
  readonly valid: boolean;
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly timeMs: number;
  readonly events: Ev[];
  readonly atMs: number;
}

/** A node:http receiver on 127.0.0.1 port 0 that records and verifies every webhook. */
class Receiver {
  readonly hooks: Hook[] = [];
  /** Status to answer for the n-th request (1-based). */
  respond: (n: number) => number = () => 200;
  #wake: Array<() => void> = [];

  private constructor(
    readonly server: Server,
    readonly url: string,
    readonly sdks: ReadonlyMap<string, Pusher>,
  ) {}

  static async start(apps: Cred[]): Promise<Receiver> {
    const sdks = new Map(apps.map((a) => [a.key, new Pusher({ appId: a.id, key: a.key, secret: a.secret, host: '127.0.0.1' })]));
    let self: Receiver | undefined;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => self?.record(req.url ?? '', req.headers, Buffer.concat(chunks).toString('utf8'), res));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    self = new Receiver(server, `http://127.0.0.1:${port}`, sdks);
    return self;
  }

  record(path: string, headers: IncomingHttpHeaders, rawBody: string, res: import('node:http').ServerResponse): void {
    const key = String(headers['x-pusher-key'] ?? '');
    const sdk = this.sdks.get(key);
    const valid = sdk !== undefined && sdk.webhook({ headers: headers as Record<string, string>, rawBody }).isValid();
    const body = JSON.parse(rawBody) as { time_ms: number; events: Ev[] };
    const status = this.respond(this.hooks.length + 1);
    this.hooks.push({ path, key, valid, status, headers, timeMs: body.time_ms, events: body.events, atMs: Date.now() });
    res.writeHead(status).end();
    for (const w of this.#wake.splice(0)) w();
  }

  /** Events from valid, successfully answered requests, in arrival order. */
  delivered(pred: (e: Ev, h: Hook) => boolean = () => true): Ev[] {
    return this.hooks.filter((h) => h.valid && h.status < 300).flatMap((h) => h.events.filter((e) => pred(e, h)));
  }

  /** Waits for a delivered event matching `pred`; returns it with its request. */
  async event(pred: (e: Ev, h: Hook) => boolean, what: string, ms = 5000): Promise<{ event: Ev; hook: Hook }> {
    let found: { event: Ev; hook: Hook } | undefined;
    await this.until(() => {
      for (const hook of this.hooks) {
        if (!hook.valid || hook.status >= 300) continue;
        const event = hook.events.find((e) => pred(e, hook));
        if (event) found = { event, hook };
        if (found) return true;
      }
      return false;
    }, `webhook ${what}`, ms);
    return found as { event: Ev; hook: Hook };
  }

  /** Waits (woken by each request) until `done()` holds. */
  async until(done: () => boolean, what: string, ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.hooks.map((h) => [h.status, h.events]))}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.#wake.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

const is = (name: string, channel: string) => (e: Ev) => e.name === name && e.channel === channel;
const path = (key: string) => `/app/${key}?protocol=7&client=js&version=8.6.0&flash=false`;

/** A URL on which nothing listens: every request fails at once with ECONNREFUSED. */
async function deadUrl(): Promise<string> {
  return `http://127.0.0.1:${await freePort()}/gone`;
}

/** Resolves once the server's webhook stats satisfy `pred` (checked on every stats event). */
function statsUntil(t: TestServer, pred: (s: WebhookStatsSnapshot) => boolean, ms = 5000): Promise<void> {
  const stats = t.server.webhooks.stats;
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (!pred(stats.snapshot())) return;
      clearTimeout(timer);
      stop();
      resolve();
    };
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`webhook stats never matched: ${JSON.stringify(stats.snapshot())}`));
    }, ms);
    const stop = stats.listen({ request: check, retry: check, dropped: check });
    check();
  });
}

async function subscribe(t: TestServer, reader: FrameReader, socketId: string, channel: string, app: Cred = APP, member?: { user_id: string }): Promise<void> {
  const needsAuth = channel.startsWith('private-') || channel.startsWith('presence-');
  const auth = needsAuth ? t.sdk(app).authorizeChannel(socketId, channel, member) : {};
  reader.send({ event: 'pusher:subscribe', data: { channel, ...auth } });
  await reader.next((f) => f.event === 'pusher_internal:subscription_succeeded' && f.channel === channel);
}

function unsubscribe(reader: FrameReader, channel: string): void {
  reader.send({ event: 'pusher:unsubscribe', data: { channel } });
}

const SECOND: Cred = { id: 'second-app', key: 'second-key', secret: 'second-secret-xx' };
const RETRY: Cred = { id: 'retry-app', key: 'retry-key', secret: 'retry-secret-xxx' };
const DEAD: Cred = { id: 'dead-app', key: 'dead-key', secret: 'dead-secret-xxxx' };
const DELAY_MS = 300;
const SETTINGS = {
  webhookBatchMs: 50,
  webhookDelayMs: DELAY_MS,
  webhookRetryInitialMs: 50,
  webhookRetryWindowSec: 1,
  webhookTimeoutMs: 1000,
  webhookQueueMax: 50,
  // One request in flight per app keeps each app's requests in order, which the
  // "nothing was sent" checks below rely on (they wait for a later marker event).
  webhookMaxInFlight: 1,
};

describe('webhooks', () => {
  let t: TestServer;
  let r: Receiver;
  let flaky: Receiver;

  beforeAll(async () => {
    r = await Receiver.start([APP, SECOND]);
    flaky = await Receiver.start([RETRY]);
    flaky.respond = (n) => (n <= 2 ? 500 : 200);
    const main = ['channel_occupied', 'channel_vacated', 'member_added', 'member_removed', 'client_event', 'cache_miss'];
    t = await startServer({
      ...SETTINGS,
      apps: [
        {
          ...APP,
          enableClientEvents: true,
          enableSubscriptionCount: true,
          webhooks: [
            { url: `${r.url}/main`, events: main, headers: { 'X-Team': 'herald' } },
            { url: `${r.url}/count`, events: ['subscription_count'], filterPrefix: 'count-' },
          ],
        },
        { ...SECOND, webhooks: [{ url: `${r.url}/main` }] },
        { ...RETRY, webhooks: [{ url: `${flaky.url}/hook` }] },
        { ...DEAD, webhooks: [{ url: await deadUrl() }] },
      ],
    });
  });

  afterAll(async () => {
    await t.close();
    await r.close();
    await flaky.close();
  });

  it('sends channel_occupied on the first subscribe, signed, with Content-Type exactly application/json', async () => {
    const { reader, socketId } = await rawConnect(t);
    await subscribe(t, reader, socketId, 'room-1');
    const { hook } = await r.event(is('channel_occupied', 'room-1'), 'occupied room-1');
    expect(hook.valid).toBe(true);
    expect(hook.path).toBe('/main');
    expect(hook.headers['content-type']).toBe('application/json');
    expect(hook.headers['x-pusher-key']).toBe(APP.key);
    expect(hook.headers['x-team']).toBe('herald');
    expect(Math.abs(hook.timeMs - Date.now())).toBeLessThan(5000);
  });

  it('sends channel_vacated only after the delay once the last subscriber leaves', async () => {
    const { reader, socketId } = await rawConnect(t);
    await subscribe(t, reader, socketId, 'room-2');
    await r.event(is('channel_occupied', 'room-2'), 'occupied room-2');
    const left = Date.now();
    unsubscribe(reader, 'room-2');
    const { hook } = await r.event(is('channel_vacated', 'room-2'), 'vacated room-2');
    expect(hook.atMs - left).toBeGreaterThanOrEqual(DELAY_MS - 10);
    expect(hook.atMs - left).toBeLessThan(DELAY_MS + 2000);
  });

  it('a reconnect within the window sends neither channel_vacated nor a second channel_occupied', async () => {
    const a = await rawConnect(t);
    await subscribe(t, a.reader, a.socketId, 'room-3');
    await r.event(is('channel_occupied', 'room-3'), 'occupied room-3');
    a.reader.ws.close();
    await a.reader.waitClose(); // the server has processed the close: room-3's vacated is held
    const b = await rawConnect(t);
    await subscribe(t, b.reader, b.socketId, 'room-3');
    // A marker held after room-3's vacated: once it arrives, room-3's would have too.
    await subscribe(t, b.reader, b.socketId, 'marker-3');
    unsubscribe(b.reader, 'marker-3');
    await r.event(is('channel_vacated', 'marker-3'), 'vacated marker-3');
    expect(r.delivered(is('channel_vacated', 'room-3'))).toEqual([]);
    expect(r.delivered(is('channel_occupied', 'room-3'))).toHaveLength(1);
  });

  it('member_added and member_removed for presence, with the same debounce on a reload', async () => {
    const u1 = { user_id: 'u1' };
    const a = await rawConnect(t);
    await subscribe(t, a.reader, a.socketId, 'presence-lobby', APP, u1);
    const added = await r.event(is('member_added', 'presence-lobby'), 'member_added');
    expect(added.event).toEqual({ name: 'member_added', channel: 'presence-lobby', user_id: 'u1' });
    a.reader.ws.close();
    await a.reader.waitClose();
    const b = await rawConnect(t);
    await subscribe(t, b.reader, b.socketId, 'presence-lobby', APP, u1);
    const left = Date.now();
    unsubscribe(b.reader, 'presence-lobby');
    const removed = await r.event(is('member_removed', 'presence-lobby'), 'member_removed');
    expect(removed.event).toEqual({ name: 'member_removed', channel: 'presence-lobby', user_id: 'u1' });
    expect(removed.hook.atMs - left).toBeGreaterThanOrEqual(DELAY_MS - 10);
    await r.event(is('channel_vacated', 'presence-lobby'), 'vacated presence-lobby');
    expect(r.delivered(is('member_added', 'presence-lobby'))).toHaveLength(1);
    expect(r.delivered(is('member_removed', 'presence-lobby'))).toHaveLength(1);
    expect(r.delivered(is('channel_occupied', 'presence-lobby'))).toHaveLength(1);
  });

  it('client_event carries event, data as a string, socket_id, and user_id on presence channels only', async () => {
    const x = await rawConnect(t);
    const y = await rawConnect(t);
    for (const [s, id] of [[x, 'ux'], [y, 'uy']] as const) {
      await subscribe(t, s.reader, s.socketId, 'presence-chat', APP, { user_id: id });
      await subscribe(t, s.reader, s.socketId, 'private-chat');
    }
    x.reader.send({ event: 'client-typing', channel: 'presence-chat', data: { text: 'hi' } });
    x.reader.send({ event: 'client-wave', channel: 'private-chat', data: { n: 1 } });
    const presence = await r.event(is('client_event', 'presence-chat'), 'client_event presence');
    expect(presence.event).toEqual({
      name: 'client_event', channel: 'presence-chat', event: 'client-typing', data: '{"text":"hi"}', socket_id: x.socketId, user_id: 'ux',
    });
    const priv = await r.event(is('client_event', 'private-chat'), 'client_event private');
    expect(priv.event).toEqual({ name: 'client_event', channel: 'private-chat', event: 'client-wave', data: '{"n":1}', socket_id: x.socketId });
  });

  it('cache_miss when subscribing to an empty cache channel', async () => {
    const { reader, socketId } = await rawConnect(t);
    await subscribe(t, reader, socketId, 'cache-empty');
    const { event } = await r.event(is('cache_miss', 'cache-empty'), 'cache_miss');
    expect(event).toEqual({ name: 'cache_miss', channel: 'cache-empty' });
  });

  it('subscription_count goes only to the URL that asked for it, filtered by channel prefix', async () => {
    const { reader, socketId } = await rawConnect(t);
    await subscribe(t, reader, socketId, 'count-a');
    await subscribe(t, reader, socketId, 'other-a');
    const { event, hook } = await r.event(is('subscription_count', 'count-a'), 'subscription_count');
    expect(event).toEqual({ name: 'subscription_count', channel: 'count-a', subscription_count: 1 });
    expect(hook.path).toBe('/count');
    await r.event(is('channel_occupied', 'other-a'), 'occupied other-a');
    expect(r.delivered((e, h) => e.name === 'subscription_count' && (h.path !== '/count' || !e.channel.startsWith('count-')))).toEqual([]);
    expect(r.delivered((e, h) => h.path === '/count' && e.name !== 'subscription_count')).toEqual([]);
  });

  it('batches several events into one request, at most 20 per request', async () => {
    const { reader } = await rawConnect(t);
    for (let i = 0; i < 25; i++) reader.send({ event: 'pusher:subscribe', data: { channel: `batch-${i}` } });
    await r.event(is('channel_occupied', 'batch-24'), 'occupied batch-24');
    await r.event(is('channel_occupied', 'batch-0'), 'occupied batch-0');
    const sizes = r.hooks
      .map((h) => h.events.filter((e) => e.channel.startsWith('batch-')).length)
      .filter((n) => n > 0);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(25);
    expect(Math.max(...sizes)).toBe(20);
    expect(sizes.length).toBeLessThanOrEqual(2);
  });

  it('two apps never share a request, and each request counts one message for its app', async () => {
    const used = t.server.meter.used(SECOND.id);
    const a = await rawConnect(t);
    const b = await rawConnect(t, path(SECOND.key));
    for (let i = 0; i < 5; i++) {
      a.reader.send({ event: 'pusher:subscribe', data: { channel: `two-a-${i}` } });
      b.reader.send({ event: 'pusher:subscribe', data: { channel: `two-b-${i}` } });
    }
    await r.event(is('channel_occupied', 'two-a-4'), 'two-a-4');
    await r.event(is('channel_occupied', 'two-b-4'), 'two-b-4');
    for (const h of r.hooks) {
      const channels = h.events.map((e) => e.channel);
      if (h.key === SECOND.key) expect(channels.every((c) => c.startsWith('two-b-'))).toBe(true);
      else expect(channels.some((c) => c.startsWith('two-b-'))).toBe(false);
    }
    const secondRequests = r.hooks.filter((h) => h.key === SECOND.key).length;
    expect(secondRequests).toBeGreaterThan(0);
    expect(t.server.meter.used(SECOND.id) - used).toBe(secondRequests);
  });

  it('a receiver answering 500 twice then 200 gets the same event on the third try', async () => {
    const { reader, socketId } = await rawConnect(t, path(RETRY.key));
    await subscribe(t, reader, socketId, 'retry-1', RETRY);
    const { hook } = await flaky.event(is('channel_occupied', 'retry-1'), 'occupied retry-1 after retries');
    expect(flaky.hooks.map((h) => h.status)).toEqual([500, 500, 200]);
    expect(flaky.hooks.every((h) => h.valid && h.timeMs === hook.timeMs)).toBe(true);
    // The receiver answered before the server read the answer: wait for the server's count.
    await statsUntil(t, (s) => s.requests.some((q) => q.appId === RETRY.id && q.outcome === 'success'));
    const snap = t.server.webhooks.stats.snapshot();
    expect(snap.retries).toContainEqual({ appId: RETRY.id, count: 2 });
    expect(snap.requests).toContainEqual({ appId: RETRY.id, event: 'channel_occupied', outcome: 'http_error', count: 2 });
    expect(snap.requests).toContainEqual({ appId: RETRY.id, event: 'channel_occupied', outcome: 'success', count: 1 });
  });

  it('a receiver down for the whole retry window, or a full queue, produces counted drops', async () => {
    const drops: Array<{ reason: WebhookDropReason; events: number }> = [];
    let wake = (): void => {};
    const stopListening = t.server.webhooks.stats.listen({
      dropped: (appId, reason, events) => {
        if (appId === DEAD.id) drops.push({ reason, events });
        wake();
      },
    });
    const until = (reason: WebhookDropReason): Promise<void> =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${reason} drop; drops: ${JSON.stringify(drops)}`)), 5000);
        wake = () => drops.some((d) => d.reason === reason) && (clearTimeout(timer), resolve());
        wake();
      });
    const { reader, socketId } = await rawConnect(t, path(DEAD.key));
    await subscribe(t, reader, socketId, 'dead-1', DEAD);
    await until('expired');
    expect(drops).toContainEqual({ reason: 'expired', events: 1 });

    for (let i = 0; i < 80; i++) reader.send({ event: 'pusher:subscribe', data: { channel: `flood-${i}` } });
    await until('overflow');
    stopListening();
    const snap = t.server.webhooks.stats.snapshot();
    const overflow = snap.dropped.find((d) => d.appId === DEAD.id && d.reason === 'overflow');
    expect(overflow?.events).toBeGreaterThanOrEqual(20);
    const depth = snap.queue.find((q) => q.appId === DEAD.id);
    expect(depth?.events).toBeLessThanOrEqual(SETTINGS.webhookQueueMax);
  });

  it('every request the receiver saw was valid', () => {
    expect(r.hooks.filter((h) => !h.valid)).toEqual([]);
    expect(r.hooks.length).toBeGreaterThan(0);
  });
});

describe('webhooks across a graceful restart', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'herald-webhooks-'));
  let r: Receiver;
  afterAll(async () => {
    await r.close();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('a delivery waiting for a retry when server A stops is delivered by server B on the same stateDir', async () => {
    r = await Receiver.start([APP]);
    let up = false;
    r.respond = () => (up ? 200 : 503);
    const config = {
      ...SETTINGS,
      stateDir,
      webhookRetryInitialMs: 300,
      webhookRetryWindowSec: 30,
      apps: [{ ...APP, webhooks: [{ url: `${r.url}/hook` }] }],
    };
    const a = await startServer(config);
    const { reader, socketId } = await rawConnect(a);
    await subscribe(a, reader, socketId, 'persist-1');
    await r.until(() => r.hooks.length > 0, 'the first attempt');
    expect(r.hooks[0]?.status).toBe(503);
    await a.close(); // the occupied request (retry pending) and the held vacated are saved
    expect(existsSync(join(stateDir, 'webhooks.json'))).toBe(true);

    up = true;
    const b = await startServer(config);
    try {
      const { hook } = await r.event(is('channel_occupied', 'persist-1'), 'occupied persist-1 from server B');
      expect(hook.timeMs).toBe(r.hooks[0]?.timeMs);
      // The vacated event A held when its clients were closed is restored and sent by B.
      await r.event(is('channel_vacated', 'persist-1'), 'vacated persist-1 from server B');
      expect(r.delivered(is('channel_occupied', 'persist-1'))).toHaveLength(1);
      expect(existsSync(join(stateDir, 'webhooks.json'))).toBe(false);
    } finally {
      await b.close();
    }
  });
});
