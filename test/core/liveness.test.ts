/**
 * Server-side liveness through the core (protocol §1.3, §1.4; src/connection/liveness.ts), on a
 * fake clock: pusher:ping after activityTimeoutSec of silence, 4201 when nothing comes back
 * within pongTimeoutSec, any frame or WebSocket pong resetting both, and 4009 for a connection
 * that neither signs in nor subscribes to a private or presence channel in time when the app
 * requires authorized connections. `core.sweep()` is the sweep timer's work; the last test lets
 * `core.start()`'s timer run it from the clock.
 */
import { describe, expect, it } from 'vitest';
import { coreWith } from '../helpers/core.js';

const SERVER = { activityTimeoutSec: 120, pongTimeoutSec: 30 };
const PING = '{"event":"pusher:ping","data":"{}"}';

describe('liveness', () => {
  it('pings a connection silent for activityTimeoutSec, and not before', () => {
    const h = coreWith({}, SERVER);
    const c = h.connect();
    h.clock.advance(119_999);
    h.core.sweep();
    expect(c.drain()).toEqual([]);
    h.clock.advance(1);
    h.core.sweep();
    expect(c.drain().map((f) => f.raw)).toEqual([PING]);
    h.core.sweep();
    expect(c.drain()).toEqual([]); // one ping per silence
  });

  it('closes with 4201 (pusher:error, then the close) when no frame answers the ping within pongTimeoutSec', () => {
    const h = coreWith({}, SERVER);
    const c = h.connect();
    c.subscribe('news');
    c.drain();
    h.clock.advance(120_000);
    h.core.sweep();
    expect(c.next().raw).toBe(PING);
    h.clock.advance(29_999);
    h.core.sweep();
    expect(c.port.closed).toBeUndefined();
    h.clock.advance(1);
    h.core.sweep();
    expect(c.drain()).toMatchObject([{ event: 'pusher:error', data: { code: 4201, message: 'Pong reply not received' } }]);
    expect(c.port.closed).toMatchObject({ code: 4201, by: 'server' });
    expect(h.core.connectionCount).toBe(0);
    expect(h.core.stats(h.app()).channels).toBe(0);
  });

  it('keeps a connection that answers: a pusher:pong frame or a WebSocket pong restarts the silence', () => {
    const h = coreWith({}, SERVER);
    const [framed, native] = [h.connect(), h.connect()];
    h.clock.advance(120_000);
    h.core.sweep();
    expect(framed.next().raw).toBe(PING);
    expect(native.next().raw).toBe(PING);
    h.clock.advance(10_000);
    framed.send({ event: 'pusher:pong', data: {} });
    h.core.activity(native.conn);
    h.clock.advance(20_000);
    h.core.sweep();
    expect(framed.drain()).toEqual([]);
    expect(native.drain()).toEqual([]);
    expect(h.core.connectionCount).toBe(2);
    // The next ping comes activityTimeoutSec after the answer.
    h.clock.advance(100_000);
    h.core.sweep();
    expect(framed.drain().map((f) => f.raw)).toEqual([PING]);
  });

  it('closes a connection with 4009 when the app requires authorized connections and it stays anonymous', () => {
    const h = coreWith({ requireAuthorizedConnections: true, authorizedConnectionTimeoutSec: 5 }, SERVER);
    const [anonymous, publicOnly, signedIn, privateSub] = [h.connect(), h.connect(), h.connect(), h.connect()];
    publicOnly.subscribe('news');
    signedIn.signin({ id: 'u1' });
    privateSub.subscribe('private-room');
    for (const c of [publicOnly, signedIn, privateSub]) c.drain();

    h.clock.advance(4_999);
    h.core.sweep();
    expect(anonymous.port.closed).toBeUndefined();
    h.clock.advance(1);
    h.core.sweep();
    for (const c of [anonymous, publicOnly]) {
      expect(c.drain()).toMatchObject([{ event: 'pusher:error', data: { code: 4009 } }]);
      expect(c.port.closed?.code).toBe(4009);
    }
    for (const c of [signedIn, privateSub]) expect(c.port.closed).toBeUndefined();
  });

  it('runs the sweep from the clock once core.start() is called, and no more after core.stop()', () => {
    const h = coreWith({}, { activityTimeoutSec: 4, pongTimeoutSec: 2 });
    const [kept, dropped] = [h.connect(), h.connect()];
    h.core.start();
    h.clock.advance(4_000);
    expect(kept.next().raw).toBe(PING);
    expect(dropped.next().raw).toBe(PING);
    kept.send({ event: 'pusher:pong', data: {} });
    h.clock.advance(2_000);
    expect(dropped.port.closed?.code).toBe(4201);
    expect(kept.port.closed).toBeUndefined();

    h.core.stop();
    h.clock.advance(60_000);
    expect(kept.drain()).toEqual([]);
    expect(h.clock.pending).toBe(0);
  });
});
