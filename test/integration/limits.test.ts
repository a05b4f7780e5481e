/**
 * Issue 4's connection quotas and per-app limits against a real server: 4004 for the app's
 * connection quota (pusher-js does not retry), 4100 for the server-wide maximum, 429 with
 * Retry-After for the REST rate (on a frozen, injected clock), and the publish size limits.
 */
import { createHash, createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { APP, FrameReader, once, rawConnect, startServer, type TestServer } from '../helpers/server.js';

const servers: TestServer[] = [];
afterEach(async () => {
  for (const t of servers.splice(0)) await t.close();
});

async function serve(limits: Record<string, number>, extra: Record<string, unknown> = {}, now?: () => number): Promise<TestServer> {
  const t = await startServer({ apps: [{ ...APP, limits }], ...extra }, now);
  servers.push(t);
  return t;
}

function signedPost(t: TestServer, body: unknown, nowMs: number): Promise<Response> {
  const path = `/apps/${APP.id}/events`;
  const text = JSON.stringify(body);
  const q = new URLSearchParams({
    auth_key: APP.key,
    auth_timestamp: String(Math.floor(nowMs / 1000)),
    auth_version: '1.0',
    body_md5: createHash('md5').update(text).digest('hex'),
  });
  const sorted = [...q.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${v}`).join('&');
  q.set('auth_signature', createHmac('sha256', APP.secret).update(`POST\n${path}\n${sorted}`).digest('hex'));
  return fetch(`http://127.0.0.1:${t.port}${path}?${q.toString()}`, { method: 'POST', body: text });
}

describe('connection quotas', () => {
  it('closes the 101st connection of an app limited to 100 with 4004, which pusher-js does not retry', async () => {
    const t = await serve({ maxConnections: 100 });
    const open = await Promise.all(Array.from({ length: 100 }, () => rawConnect(t)));
    expect(t.server.core.connectionCount).toBe(100);

    const extra = new FrameReader(t.raw());
    const err = await extra.event('pusher:error');
    expect(err.data).toMatchObject({ code: 4004 });
    expect((await extra.waitClose()).code).toBe(4004);

    const client = t.client();
    const states: string[] = [];
    client.connection.bind('state_change', (s: { current: string }) => states.push(s.current));
    const error = await once<{ error?: { data?: { code?: number } } }>((cb) => client.connection.bind('error', cb), 'pusher-js error');
    expect(error.error?.data?.code).toBe(4004);
    await once((cb) => (client.connection.state === 'disconnected' ? cb(null) : client.connection.bind('disconnected', cb)), 'disconnected');
    expect(states).not.toContain('connected');

    // A freed slot admits the next connection.
    const first = open[0];
    first?.reader.ws.close();
    await first?.reader.waitClose();
    await rawConnect(t);
    expect(t.server.core.connectionCount).toBe(100);
  });

  it('closes connections beyond the server-wide maxConnections with 4100 (back off and retry)', async () => {
    const t = await serve({ maxConnections: 100 }, { maxConnections: 2 });
    await rawConnect(t);
    await rawConnect(t);
    const third = new FrameReader(t.raw());
    expect((await third.event('pusher:error')).data).toMatchObject({ code: 4100 });
    expect((await third.waitClose()).code).toBe(4100);
  });
});

describe('REST limits', () => {
  it('answers 429 with Retry-After once an app passes maxRestRequestsPerSec, and admits again a second later', async () => {
    let clockMs = Date.now();
    const t = await serve({ maxRestRequestsPerSec: 3, maxMessagesPerDay: 1000 }, {}, () => clockMs);
    const body = { name: 'e', channels: ['c'], data: '{}' };
    for (let i = 0; i < 3; i++) expect((await signedPost(t, body, clockMs)).status).toBe(200);
    const limited = await signedPost(t, body, clockMs);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('1');
    expect(await limited.text()).toMatch(/3 requests per second/);
    expect(t.server.meter.used(APP.id)).toBe(3); // a refused request is not a message
    clockMs += 1000;
    expect((await signedPost(t, body, clockMs)).status).toBe(200);
  });

  it('the SDK sees the 429', async () => {
    const frozen = Date.now();
    const t = await serve({ maxRestRequestsPerSec: 1 }, {}, () => frozen);
    await t.sdk().trigger('c', 'e', {});
    await expect(t.sdk().trigger('c', 'e', {})).rejects.toMatchObject({ status: 429 });
  });

  it('enforces channels per trigger, batch size, event name length and payload size with 400/413', async () => {
    const t = await serve({ maxChannelsPerTrigger: 2, maxBatchSize: 2, maxEventNameLength: 5, maxPayloadBytes: 8 });
    const sdk = t.sdk();
    await expect(sdk.trigger(['a', 'b', 'c'], 'e', 'x')).rejects.toMatchObject({ status: 400 });
    expect((await sdk.trigger(['a', 'b'], 'e', 'x')).status).toBe(200);
    await expect(sdk.triggerBatch([1, 2, 3].map(() => ({ channel: 'a', name: 'e', data: 'x' })))).rejects.toMatchObject({ status: 400 });
    await expect(sdk.trigger('a', 'toolong', 'x')).rejects.toMatchObject({ status: 400 });
    await expect(sdk.trigger('a', 'e', 'x'.repeat(9))).rejects.toMatchObject({ status: 413 });
    expect((await sdk.trigger('a', 'e', 'x'.repeat(8))).status).toBe(200);
  });
});
