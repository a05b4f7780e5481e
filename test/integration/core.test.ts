/**
 * Issue 2's end-to-end checks: pusher-js and the `pusher` SDK against a real server on port 0.
 */
import { createHash, createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP, connected, FrameReader, once, rawConnect, startServer, subscribed, type TestServer } from '../helpers/server.js';

let t: TestServer;

beforeAll(async () => {
  t = await startServer({
    apps: [
      { ...APP, enableClientEvents: true },
      { id: 'off-app', key: 'off-key', secret: 'off-secret-xxxxx', enabled: false },
    ],
  });
});
afterAll(() => t.close());

function received(client: ReturnType<TestServer['client']>, channel: string, event: string): Promise<unknown> {
  return once((cb) => client.channel(channel).bind(event, cb), `${event} on ${channel}`);
}

/** A signed REST request built by hand, for the cases the SDK refuses to produce. */
async function signedPost(path: string, body: string, tweak: (q: URLSearchParams) => void = () => {}): Promise<Response> {
  const q = new URLSearchParams({
    auth_key: APP.key,
    auth_timestamp: String(Math.floor(Date.now() / 1000)),
    auth_version: '1.0',
    body_md5: createHash('md5').update(body).digest('hex'),
  });
  tweak(q);
  const sorted = [...q.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${v}`).join('&');
  const sig = createHmac('sha256', APP.secret).update(`POST\n${path}\n${sorted}`).digest('hex');
  q.set('auth_signature', sig);
  return fetch(`http://127.0.0.1:${t.port}${path}?${q.toString()}`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
}

describe('connection', () => {
  it('sends connection_established first with a socket_id the SDKs accept and a positive activity_timeout', async () => {
    const { reader, socketId } = await rawConnect(t);
    expect(socketId).toMatch(/^\d+\.\d+$/);
    const client = t.client();
    const id = await connected(client);
    expect(id).toMatch(/^\d+\.\d+$/);
    expect(id).not.toBe(socketId);
    reader.ws.close();
  });

  it('activity_timeout is positive and the first frame is connection_established', async () => {
    const reader = new FrameReader(t.raw());
    const first = await reader.next();
    expect(first.event).toBe('pusher:connection_established');
    expect(JSON.parse(first.data as string).activity_timeout).toBeGreaterThan(0);
  });

  it('answers pusher:ping with pusher:pong', async () => {
    const { reader } = await rawConnect(t);
    reader.send({ event: 'pusher:ping', data: {} });
    const pong = await reader.event('pusher:pong');
    expect(pong.event).toBe('pusher:pong');
  });

  it('closes an unknown key with 4001, which pusher-js treats as refused', async () => {
    const reader = new FrameReader(t.raw('/app/no-such-key?protocol=7&client=js&version=8.6.0'));
    const closed = await reader.waitClose();
    expect(closed.code).toBe(4001);
    const client = t.client({}, 'no-such-key');
    const errors: Array<{ error?: { data?: { code?: number } } }> = [];
    client.connection.bind('error', (e: { error?: { data?: { code?: number } } }) => errors.push(e));
    await once((cb) => client.connection.bind('state_change', (s: { current: string }) => s.current === 'disconnected' && cb(s)), 'disconnected');
    expect(errors.some((e) => e.error?.data?.code === 4001)).toBe(true);
  });

  it('closes a disabled app with 4003, a bad path with 4005 and protocol problems with 4006/4007/4008', async () => {
    const cases: Array<[string, number]> = [
      ['/app/off-key?protocol=7', 4003],
      ['/nope/test-key?protocol=7', 4005],
      ['/app/test-key?protocol=7&version=not%20a%20version', 4006],
      ['/app/test-key?protocol=2', 4007],
      ['/app/test-key?client=js', 4008],
    ];
    for (const [path, code] of cases) {
      const reader = new FrameReader(t.raw(path));
      const err = await reader.event('pusher:error');
      expect((err.data as { code: number }).code).toBe(code);
      expect((await reader.waitClose()).code).toBe(code);
    }
  });

  it('answers malformed frames with pusher:error and keeps serving a healthy second client', async () => {
    const { reader } = await rawConnect(t);
    for (const bad of ['not json', '[]', '{"data":{}}', '{"event":42}', '{"event":"pusher:subscribe","data":"{bad"}', '{"event":"pusher:subscribe","data":{"channel":7}}']) {
      reader.send(bad);
      const err = await reader.event('pusher:error');
      expect(typeof (err.data as { message: string }).message).toBe('string');
    }
    reader.ws.send(Buffer.from([0xff, 0x00]), { binary: true });
    await reader.event('pusher:error');
    expect(reader.closed).toBeUndefined();

    const healthy = t.client();
    await connected(healthy);
    await subscribed(healthy, 'after-garbage');
    const got = received(healthy, 'after-garbage', 'ok');
    await t.sdk().trigger('after-garbage', 'ok', { fine: true });
    expect(await got).toEqual({ fine: true });
  });
});

describe('publishing', () => {
  it('delivers a trigger to a public channel subscriber', async () => {
    const client = t.client();
    await subscribed(client, 'news');
    const got = received(client, 'news', 'headline');
    const res = await t.sdk().trigger('news', 'headline', { title: 'hello' });
    expect(res.status).toBe(200);
    expect(await got).toEqual({ title: 'hello' });
  });

  it('sends server frames with data as a JSON string', async () => {
    const { reader } = await rawConnect(t);
    reader.send({ event: 'pusher:subscribe', data: { channel: 'raw-news', auth: '' } });
    const ok = await reader.event('pusher_internal:subscription_succeeded');
    expect(ok.data).toBe('{}');
    await t.sdk().trigger('raw-news', 'e', { n: 1 });
    const ev = await reader.event('e');
    expect(ev).toEqual({ event: 'e', channel: 'raw-news', data: '{"n":1}' });
  });

  it('triggers to several channels at once', async () => {
    const a = t.client();
    const b = t.client();
    await Promise.all([subscribed(a, 'multi-a'), subscribed(b, 'multi-b')]);
    const gotA = received(a, 'multi-a', 'm');
    const gotB = received(b, 'multi-b', 'm');
    await t.sdk().trigger(['multi-a', 'multi-b'], 'm', 'both');
    expect(await gotA).toBe('both');
    expect(await gotB).toBe('both');
  });

  it('excludes the socket named by socket_id', async () => {
    const sender = await rawConnect(t);
    const other = await rawConnect(t);
    for (const r of [sender.reader, other.reader]) {
      r.send({ event: 'pusher:subscribe', data: { channel: 'excl', auth: '' } });
      await r.event('pusher_internal:subscription_succeeded');
    }
    await t.sdk().trigger('excl', 'first', 'x', { socket_id: sender.socketId });
    await t.sdk().trigger('excl', 'second', 'y');
    expect((await other.reader.event('first')).data).toBe('x');
    // The sender sees only the second event: the first was excluded, and order is preserved.
    expect((await sender.reader.next((f) => f.event === 'first' || f.event === 'second')).event).toBe('second');
  });

  it('delivers a batch trigger', async () => {
    const client = t.client();
    await subscribed(client, 'batch-1');
    const events: unknown[] = [];
    const all = once((cb) => client.channel('batch-1').bind('b', (d: unknown) => (events.push(d), events.length === 3 && cb(events))), 'batch');
    const res = await t.sdk().triggerBatch([1, 2, 3].map((n) => ({ channel: 'batch-1', name: 'b', data: { n } })));
    expect(res.status).toBe(200);
    expect(await all).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
  });

  it('rejects a batch over the limit and oversized data with the right status', async () => {
    const batch = Array.from({ length: 11 }, () => ({ channel: 'c', name: 'e', data: 'x' }));
    await expect(t.sdk().triggerBatch(batch)).rejects.toMatchObject({ status: 400 });
    await expect(t.sdk().trigger('c', 'e', 'x'.repeat(10_241))).rejects.toMatchObject({ status: 413 });
    const ok = await t.sdk().trigger('c', 'e', 'x'.repeat(10_000));
    expect(ok.status).toBe(200);
  });
});

describe('private channels', () => {
  it('accepts a signature from pusher.authorizeChannel and refuses a forged one with subscription_error', async () => {
    const sdk = t.sdk();
    const good = t.client({
      channelAuthorization: {
        customHandler: ({ socketId, channelName }: { socketId: string; channelName: string }, cb: (e: Error | null, a: unknown) => void) =>
          cb(null, sdk.authorizeChannel(socketId, channelName)),
      },
    });
    await subscribed(good, 'private-room');
    const got = received(good, 'private-room', 'secret');
    await sdk.trigger('private-room', 'secret', { s: 1 });
    expect(await got).toEqual({ s: 1 });

    const forged = t.client({
      channelAuthorization: {
        customHandler: ({ socketId }: { socketId: string }, cb: (e: Error | null, a: unknown) => void) =>
          cb(null, { auth: `${APP.key}:${createHmac('sha256', 'wrong-secret').update(`${socketId}:private-room`).digest('hex')}` }),
      },
    });
    const ch = forged.subscribe('private-room');
    const err = await once<{ type: string; status: number; error: string }>((cb) => ch.bind('pusher:subscription_error', cb), 'subscription_error');
    expect(err).toMatchObject({ type: 'AuthError', status: 401 });
    expect(err.error).toMatch(/Invalid signature/);
  });

  it('refuses a private subscription without auth', async () => {
    const { reader } = await rawConnect(t);
    reader.send({ event: 'pusher:subscribe', data: { channel: 'private-x', auth: '' } });
    const err = await reader.event('pusher:subscription_error');
    expect(err.channel).toBe('private-x');
    expect(JSON.parse(err.data as string)).toMatchObject({ type: 'AuthError', status: 401 });
  });

  it('refuses channel names that are too long or have bad characters', async () => {
    const { reader } = await rawConnect(t);
    for (const channel of ['x'.repeat(165), 'bad channel', 'ü']) {
      reader.send({ event: 'pusher:subscribe', data: { channel, auth: '' } });
      const err = await reader.event('pusher:error');
      expect((err.data as { message: string }).message).toMatch(/Channel name/);
    }
    reader.send({ event: 'pusher:subscribe', data: { channel: 'x'.repeat(164), auth: '' } });
    await reader.event('pusher_internal:subscription_succeeded');
  });
});

describe('REST authentication', () => {
  const body = JSON.stringify({ name: 'e', channels: ['c'], data: '{}' });
  const path = `/apps/${APP.id}/events`;

  it('accepts a correctly signed request', async () => {
    const res = await signedPost(path, body);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({});
  });

  it('rejects a bad signature, a stale timestamp and a wrong body_md5 with 401', async () => {
    const bad = await signedPost(path, body, () => {});
    expect(bad.status).toBe(200);
    const url = (q: URLSearchParams) => `http://127.0.0.1:${t.port}${path}?${q.toString()}`;
    const forged = new URLSearchParams({ auth_key: APP.key, auth_timestamp: String(Math.floor(Date.now() / 1000)), auth_version: '1.0', body_md5: createHash('md5').update(body).digest('hex'), auth_signature: 'f'.repeat(64) });
    const r1 = await fetch(url(forged), { method: 'POST', body });
    expect(r1.status).toBe(401);
    expect(await r1.text()).toMatch(/Invalid signature/);

    const stale = await signedPost(path, body, (q) => q.set('auth_timestamp', String(Math.floor(Date.now() / 1000) - 600)));
    expect(stale.status).toBe(401);
    expect(await stale.text()).toMatch(/Timestamp expired/);

    const md5 = await signedPost(path, body, (q) => q.set('body_md5', createHash('md5').update('other').digest('hex')));
    expect(md5.status).toBe(401);
    expect(await md5.text()).toMatch(/body_md5/);
  });

  it('rejects an SDK signed with the wrong secret', async () => {
    await expect(t.sdk({ ...APP, secret: 'nope' }).trigger('c', 'e', 'x')).rejects.toMatchObject({ status: 401 });
  });

  it('answers 403 for a disabled app and 401 for an unknown one (hostile.test.ts: the same 401 as a wrong key)', async () => {
    await expect(t.sdk({ id: 'off-app', key: 'off-key', secret: 'off-secret-xxxxx' }).trigger('c', 'e', 'x')).rejects.toMatchObject({ status: 403 });
    await expect(t.sdk({ id: 'nope', key: APP.key, secret: APP.secret }).trigger('c', 'e', 'x')).rejects.toMatchObject({ status: 401 });
  });

  it('rejects invalid event bodies with 400 and a message', async () => {
    for (const bad of ['{', JSON.stringify({ name: 'e', data: 'x' }), JSON.stringify({ name: '', channels: ['c'], data: 'x' }), JSON.stringify({ name: 'e', channels: ['bad name'], data: 'x' })]) {
      const res = await signedPost(path, bad);
      expect(res.status).toBe(400);
      expect((await res.text()).length).toBeGreaterThan(5);
    }
  });
});
