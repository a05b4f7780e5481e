/**
 * Hostile input on the WebSocket side (issue 11, findings 1–5, and the callback guards): each
 * case drives a real server on 127.0.0.1 with raw `ws` sockets, then checks that the server
 * answered with the Pusher code or error that says what was wrong and still serves others.
 * Per-address limits are set low here; other tests lift them (test/helpers/limits.ts).
 */
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { sign } from '../helpers/auth.js';
import { APP, FrameReader, rawConnect, startServer, type TestServer } from '../helpers/server.js';

let t: TestServer | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const PATH = `/app/${APP.key}?protocol=7&client=js&version=8.6.0&flash=false`;
const DEFAULT_ADDRESS_LIMITS = { maxConnectionsPerIp: 100, ipConnectionsPerSec: 10, ipConnectionBurst: 50, ipPublicSubscribesPerSec: 20, ipPublicSubscribeBurst: 200 };

/** A raw socket from a chosen loopback source address, optionally through a "proxy" header. */
function socketFrom(server: TestServer, localAddress: string, headers: Record<string, string> = {}): FrameReader {
  return new FrameReader(new WebSocket(`ws://127.0.0.1:${server.port}${PATH}`, { localAddress, headers }));
}

/** Sends pusher:ping and waits for the pong: every frame sent before it has been handled. */
async function settled(reader: FrameReader): Promise<void> {
  reader.send({ event: 'pusher:ping', data: {} });
  await reader.event('pusher:pong', 10_000);
}

async function metric(server: TestServer, name: string, labels: string): Promise<number> {
  const text = (await server.server.metrics?.metrics()) ?? '';
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

describe('finding 1: a malformed app key in the upgrade path', () => {
  it('is refused with 4001 and the server keeps serving', async () => {
    // Regression: decodeURIComponent on the key threw inside the uWS open callback, which ended the process.
    t = await startServer();
    const bad = new FrameReader(t.raw('/app/%E0?protocol=7'));
    const error = await bad.event('pusher:error');
    expect(error.data).toMatchObject({ code: 4001 });
    expect((await bad.waitClose()).code).toBe(4001);
    const { socketId } = await rawConnect(t);
    expect(socketId).toMatch(/^\d+\.\d+$/);
  });
});

describe('the edge catches every callback fault', () => {
  it('ends only the faulty connection or request, counts it, and keeps serving', async () => {
    // A fault is injected into the core behind each uWS callback; before the guards any of them ended the process.
    t = await startServer({ metricsEnabled: true, metricsPort: 0 });
    const core = t.server.core;
    const healthy = await rawConnect(t);
    const boom = (): never => {
      throw new Error('injected fault');
    };

    const original = { message: core.message, activity: core.activity, closed: core.closed, connect: core.connect };
    core.message = boom;
    const victim = await rawConnect(t);
    victim.reader.send({ event: 'pusher:ping', data: {} });
    expect((await victim.reader.waitClose()).code).toBe(1011);
    core.message = original.message;

    core.activity = boom;
    const ponger = await rawConnect(t);
    ponger.reader.ws.pong();
    expect((await ponger.reader.waitClose()).code).toBe(1011);
    core.activity = original.activity;

    core.connect = boom;
    const refused = new FrameReader(t.raw());
    expect((await refused.waitClose()).code).toBe(1011);
    core.connect = original.connect;

    core.closed = boom;
    const closer = await rawConnect(t);
    closer.reader.ws.close(1000);
    await closer.reader.waitClose();
    core.closed = original.closed;
    const leaked = core.connection(closer.socketId); // the injected fault skipped its cleanup; do it now
    if (leaked !== undefined) core.closed(leaked);

    const rest = t.server.rest;
    const originalHandle = rest.handle.bind(rest);
    rest.handle = boom;
    expect((await fetch(`http://127.0.0.1:${t.port}/apps/${APP.id}/events`, { method: 'POST', body: '{}' })).status).toBe(401); // refused before the body
    const signed = await fetch(`http://127.0.0.1:${t.port}/apps/${APP.id}/channels?auth_key=${APP.key}&auth_version=1.0&auth_timestamp=${Math.floor(Date.now() / 1000)}`);
    expect(signed.status).toBe(500);
    rest.handle = originalHandle;

    await settled(healthy.reader); // the first connection never noticed
    for (const callback of ['message', 'pong', 'open', 'close', 'http']) {
      expect(await metric(t, 'herald_callback_faults_total', `callback="${callback}"`), callback).toBe(1);
    }
  });
});

describe('finding 2: deeply nested JSON', () => {
  it('is refused cheaply in client events, channel_data and user_data; the connection stays open', async () => {
    // Regression: a client event whose data was 15,000 nested arrays reached JSON.stringify, whose RangeError ended the process.
    t = await startServer();
    const { reader, socketId } = await rawConnect(t);
    const deep = `${'['.repeat(15_000)}${']'.repeat(15_000)}`;
    reader.send(`{"event":"client-x","channel":"private-a","data":${deep}}`);
    expect(((await reader.event('pusher:error')).data as { message: string }).message).toMatch(/deeper than 32 levels/);

    const channelData = `{"user_id":"u","user_info":${'['.repeat(100)}${']'.repeat(100)}}`;
    const channel = 'presence-deep';
    reader.send({ event: 'pusher:subscribe', data: { channel, auth: sign(`${socketId}:${channel}:${channelData}`), channel_data: channelData } });
    const refused = await reader.event('pusher:subscription_error');
    expect(JSON.parse(refused.data as string)).toMatchObject({ status: 400, error: expect.stringMatching(/channel_data nests/) });

    const userData = `{"id":"u","user_info":${'{"a":'.repeat(40)}1${'}'.repeat(40)}}`;
    reader.send({ event: 'pusher:signin', data: { auth: sign(`${socketId}::user::${userData}`), user_data: userData } });
    expect(((await reader.event('pusher:error')).data as { message: string }).message).toMatch(/user_data nests/);
    await settled(reader);
  });
});

describe('finding 3: channels per connection', () => {
  it('stops one socket at maxChannelsPerConnection with a LimitReached subscription_error', async () => {
    // Regression: one socket with the public key could hold 100,000 channels (+84 MB).
    t = await startServer();
    const { reader } = await rawConnect(t);
    for (let i = 0; i < 150; i++) reader.send({ event: 'pusher:subscribe', data: { channel: `room-${i}` } });
    await settled(reader);
    const succeeded = reader.frames.filter((f) => f.event === 'pusher_internal:subscription_succeeded').length;
    const errors = reader.frames.filter((f) => f.event === 'pusher:subscription_error').map((f) => JSON.parse(f.data as string) as Record<string, unknown>);
    expect(succeeded).toBe(100);
    expect(errors).toHaveLength(50);
    expect(errors[0]).toMatchObject({ type: 'LimitReached', status: 403, error: expect.stringMatching(/limit is 100 \(maxChannelsPerConnection\)/) });
    expect(t.server.core.state(t.server.apps.byId(APP.id) ?? (undefined as never)).channels.size).toBe(100);
  });
});

describe('finding 4: one address cannot fill an app', () => {
  it('refuses connections over maxConnectionsPerIp with 4101 while another address still connects', async () => {
    // Regression: one address opened all 200 connections of an app's quota; everyone else got 4004, which pusher-js never retries.
    t = await startServer({ ...DEFAULT_ADDRESS_LIMITS, maxConnectionsPerIp: 5, apps: [{ ...APP, limits: { maxConnections: 8 } }], metricsEnabled: true, metricsPort: 0 });
    const server = t;
    const mine = await Promise.all(Array.from({ length: 5 }, () => socketFrom(server, '127.0.0.1')).map(async (r) => (await r.event('pusher:connection_established'), r)));
    const sixth = socketFrom(t, '127.0.0.1');
    expect((await sixth.event('pusher:error')).data).toMatchObject({ code: 4101 });
    expect((await sixth.waitClose()).code).toBe(4101);
    const other = socketFrom(t, '127.0.0.2');
    await other.event('pusher:connection_established');
    expect(await metric(t, 'herald_address_limited_total', 'limit="too_many_connections"')).toBe(1);
    mine[0]?.ws.close();
    await mine[0]?.waitClose();
    const again = socketFrom(t, '127.0.0.1'); // a slot freed by a close is usable again
    await again.event('pusher:connection_established');
  });

  it('refuses a burst of new connections from one address with 4102', async () => {
    t = await startServer({ ...DEFAULT_ADDRESS_LIMITS, ipConnectionsPerSec: 1, ipConnectionBurst: 3 });
    const server = t;
    const readers = Array.from({ length: 6 }, () => socketFrom(server, '127.0.0.3'));
    const outcomes = await Promise.all(readers.map((r) => r.next((f) => f.event === 'pusher:connection_established' || f.event === 'pusher:error')));
    const refused = outcomes.filter((f) => f.event === 'pusher:error');
    expect(refused.length).toBeGreaterThanOrEqual(2); // 3 from the burst, at most one refilled token in the meantime
    for (const f of refused) expect(f.data).toMatchObject({ code: 4102 });
  });

  it('counts a trusted proxy\'s clients by X-Forwarded-For, and ignores the header from anyone else', async () => {
    t = await startServer({ ...DEFAULT_ADDRESS_LIMITS, maxConnectionsPerIp: 1, trustedProxies: ['127.0.0.1'] });
    const a = socketFrom(t, '127.0.0.1', { 'X-Forwarded-For': '198.51.100.7' });
    await a.event('pusher:connection_established');
    const b = socketFrom(t, '127.0.0.1', { 'X-Forwarded-For': '203.0.113.9, 198.51.100.8' });
    await b.event('pusher:connection_established');
    const again = socketFrom(t, '127.0.0.1', { 'X-Forwarded-For': '198.51.100.7' });
    expect((await again.waitClose()).code).toBe(4101);
    // 127.0.0.4 is not a trusted proxy: its header is ignored, so two sockets from it are one address.
    const untrusted1 = socketFrom(t, '127.0.0.4', { 'X-Forwarded-For': '192.0.2.1' });
    await untrusted1.event('pusher:connection_established');
    const untrusted2 = socketFrom(t, '127.0.0.4', { 'X-Forwarded-For': '192.0.2.2' });
    expect((await untrusted2.waitClose()).code).toBe(4101);
  });
});

describe('finding 5: anonymous quota burn', () => {
  it('limits the public subscriptions one address can make the app pay for', async () => {
    // Regression: 2,000 anonymous subscribe/unsubscribe rounds on a cache channel (each replay counted) put the app over its daily quota.
    t = await startServer({ ...DEFAULT_ADDRESS_LIMITS, apps: [{ ...APP, limits: { maxMessagesPerDay: 1000 } }] });
    await t.sdk().trigger('cache-x', 'price', { v: 1 });
    const { reader } = await rawConnect(t);
    for (let i = 0; i < 2000; i++) {
      reader.send({ event: 'pusher:subscribe', data: { channel: 'cache-x' } });
      reader.send({ event: 'pusher:unsubscribe', data: { channel: 'cache-x' } });
    }
    await settled(reader);
    const limited = reader.frames.filter((f) => f.event === 'pusher:subscription_error');
    expect(limited.length).toBeGreaterThan(1500);
    expect(JSON.parse(limited[0]?.data as string)).toMatchObject({ type: 'LimitReached', status: 429 });
    const res = await t.sdk().trigger('cache-x', 'price', { v: 2 });
    expect(res.status).toBe(200);
    expect(Number(res.headers.get('x-herald-quota-remaining'))).toBeGreaterThan(500);
  });
});
