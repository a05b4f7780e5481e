/**
 * Server-side liveness and authorized connections over raw `ws` (issue 3, protocol §1.3, §1.4):
 * after activity_timeout of silence the server sends pusher:ping and closes with 4201 when
 * nothing comes back within pong_timeout; an app that requires authorized connections closes
 * with 4009 those that neither sign in nor subscribe to a private/presence channel in time.
 * The server's clock is injected; the sweep runs every 250 ms with 1 s timeouts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sign } from '../helpers/auth.js';
import { APP, rawConnect, startServer, type TestServer } from '../helpers/server.js';

const GUARDED = { id: 'guarded-app', key: 'guarded-key', secret: 'guarded-secret-x' };
const GUARDED_PATH = `/app/${GUARDED.key}?protocol=7&client=js&version=8.6.0`;
let t: TestServer;
let offsetMs = 0;

beforeAll(async () => {
  t = await startServer(
    {
      activityTimeoutSec: 1,
      pongTimeoutSec: 1,
      apps: [APP, { ...GUARDED, requireAuthorizedConnections: true, authorizedConnectionTimeoutSec: 1 }],
    },
    () => Date.now() + offsetMs,
  );
});
afterAll(() => t.close());

describe('server liveness', () => {
  it('pings an idle connection, closes one that ignores the ping with 4201 and keeps one that answers', async () => {
    const deaf = await rawConnect(t);
    const alive = await rawConnect(t);

    offsetMs += 1000; // both idle for activity_timeout
    expect(await deaf.reader.event('pusher:ping')).toEqual({ event: 'pusher:ping', data: '{}' });
    await alive.reader.event('pusher:ping');
    alive.reader.send({ event: 'pusher:pong', data: {} });
    // A ping of our own is answered after the pong above was handled (frames are ordered).
    alive.reader.send({ event: 'pusher:ping', data: {} });
    await alive.reader.event('pusher:pong');

    offsetMs += 1000; // pong_timeout passes for the deaf socket
    const closed = await deaf.reader.waitClose();
    expect(closed).toEqual({ code: 4201, reason: 'Pong reply not received' });
    expect(alive.reader.closed).toBeUndefined();
    // The live socket is idle again by now, so it gets its next ping rather than a close.
    await alive.reader.event('pusher:ping');
    expect(alive.reader.closed).toBeUndefined();
  });
});

describe('authorized connections', () => {
  it('closes with 4009 a connection that neither signs in nor subscribes to a private channel in time', async () => {
    const idle = await rawConnect(t, GUARDED_PATH);
    const publicOnly = await rawConnect(t, GUARDED_PATH);
    const privateSub = await rawConnect(t, GUARDED_PATH);
    const signedIn = await rawConnect(t, GUARDED_PATH);

    publicOnly.reader.send({ event: 'pusher:subscribe', data: { channel: 'lobby', auth: '' } });
    await publicOnly.reader.event('pusher_internal:subscription_succeeded');
    privateSub.reader.send({ event: 'pusher:subscribe', data: { channel: 'private-x', auth: sign(`${privateSub.socketId}:private-x`, GUARDED) } });
    await privateSub.reader.event('pusher_internal:subscription_succeeded');
    const user_data = JSON.stringify({ id: 'guard-user' });
    signedIn.reader.send({ event: 'pusher:signin', data: { user_data, auth: sign(`${signedIn.socketId}::user::${user_data}`, GUARDED) } });
    await signedIn.reader.event('pusher:signin_success');

    offsetMs += 1000;
    const [a, b] = await Promise.all([idle.reader.waitClose(), publicOnly.reader.waitClose()]);
    expect(a.code).toBe(4009);
    expect(b.code).toBe(4009);
    expect(a.reason).toMatch(/^Connection is unauthorized/);
    // One sweep handles every connection, so these two were judged at the same time and kept.
    expect(privateSub.reader.closed).toBeUndefined();
    expect(signedIn.reader.closed).toBeUndefined();
    for (const r of [privateSub.reader, signedIn.reader]) {
      r.send({ event: 'pusher:ping', data: {} });
      await r.event('pusher:pong');
    }
  });
});
