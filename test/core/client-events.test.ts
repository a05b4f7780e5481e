/**
 * Client events through the core (protocol §6, src/connection/client-events.ts): delivered to the
 * channel's other subscribers and never echoed; on presence channels they carry the sender's
 * user_id; per-connection rate limit answered with 4301 (connection kept, window of one
 * second on the fake clock); refused with Pusher's message when the app disables them.
 */
import { describe, expect, it } from 'vitest';
import { CLIENT_EVENTS_DISABLED } from '../../src/connection/client-events.js';
import { coreWith } from '../helpers/core.js';

describe('client events', () => {
  it('reach the other subscribers of a private channel with data as sent, and not the sender', () => {
    const h = coreWith({ enableClientEvents: true });
    const [alice, bob, carol] = [h.connect(), h.connect(), h.connect()];
    for (const c of [alice, bob, carol]) c.subscribe('private-chat');
    for (const c of [alice, bob, carol]) c.drain();

    alice.send({ event: 'client-typing', channel: 'private-chat', data: { typing: true } });
    expect(alice.drain()).toEqual([]);
    for (const c of [bob, carol]) expect(c.drain().map((f) => f.raw)).toEqual(['{"event":"client-typing","channel":"private-chat","data":{"typing":true}}']);
  });

  it('carry the sender’s user_id on presence channels', () => {
    const h = coreWith({ enableClientEvents: true });
    const [alice, bob] = [h.connect(), h.connect()];
    alice.subscribe('presence-room', { user_id: 'alice' });
    bob.subscribe('presence-room', { user_id: 'bob' });
    alice.drain();
    bob.drain();
    bob.send({ event: 'client-wave', channel: 'presence-room', data: 'hi' });
    expect(alice.drain()).toMatchObject([{ event: 'client-wave', channel: 'presence-room', data: 'hi', user_id: 'bob' }]);
    expect(bob.drain()).toEqual([]);
  });

  it('answer the event past maxClientEventsPerSec with 4301, drop it, keep the connection, and allow more a second later', () => {
    const h = coreWith({ enableClientEvents: true, limits: { maxClientEventsPerSec: 3 } });
    const [alice, bob] = [h.connect(), h.connect()];
    for (const c of [alice, bob]) c.subscribe('private-chat');
    for (const c of [alice, bob]) c.drain();

    for (let i = 1; i <= 4; i++) alice.send({ event: 'client-n', channel: 'private-chat', data: { i } });
    expect(alice.drain()).toMatchObject([
      { event: 'pusher:error', channel: 'private-chat', data: { code: 4301, message: 'Client event rejected due to rate limit (3 per second)' } },
    ]);
    expect(bob.drain().map((f) => f.data)).toEqual([{ i: 1 }, { i: 2 }, { i: 3 }]);
    expect(alice.conn.state).toBe('open');

    h.clock.advance(999);
    alice.send({ event: 'client-n', channel: 'private-chat', data: { i: 5 } });
    expect(alice.drain()).toMatchObject([{ data: { code: 4301 } }]);
    h.clock.advance(1);
    alice.send({ event: 'client-n', channel: 'private-chat', data: { i: 6 } });
    expect(alice.drain()).toEqual([]);
    expect(bob.drain().map((f) => f.data)).toEqual([{ i: 6 }]);
  });

  it('are refused with Pusher’s message when the app does not enable them', () => {
    const h = coreWith({ enableClientEvents: false });
    const [alice, bob] = [h.connect(), h.connect()];
    for (const c of [alice, bob]) c.subscribe('private-chat');
    for (const c of [alice, bob]) c.drain();
    alice.send({ event: 'client-typing', channel: 'private-chat', data: {} });
    expect(alice.drain()).toMatchObject([{ event: 'pusher:error', channel: 'private-chat', data: { code: null, message: CLIENT_EVENTS_DISABLED } }]);
    expect(bob.drain()).toEqual([]);
  });

  it('are refused on public channels and on channels the sender is not subscribed to', () => {
    const h = coreWith({ enableClientEvents: true });
    const [alice, bob] = [h.connect(), h.connect()];
    alice.subscribe('lobby');
    bob.subscribe('lobby');
    bob.subscribe('private-elsewhere');
    alice.drain();
    bob.drain();
    alice.send({ event: 'client-x', channel: 'lobby', data: {} });
    alice.send({ event: 'client-x', channel: 'private-elsewhere', data: {} });
    expect(alice.drain()).toMatchObject([
      { event: 'pusher:error', channel: 'lobby', data: { code: null, message: 'Client events are only allowed on private and presence channels, not on lobby' } },
      { event: 'pusher:error', channel: 'private-elsewhere', data: { code: null, message: 'Client event rejected: not subscribed to private-elsewhere' } },
    ]);
    expect(bob.drain()).toEqual([]);
  });
});
