/**
 * Presence channels through the core (protocol §5.2, src/connection/subscribe.ts): the roster in
 * subscription_succeeded, member_added on a user's first connection and member_removed after
 * its last (per user_id, not per connection), and maxPresenceMembers as LimitReached 403.
 */
import { describe, expect, it } from 'vitest';
import { coreWith, type FakeClient } from '../helpers/core.js';

const ROOM = 'presence-room';

function join(c: FakeClient, userId: string, info?: unknown): void {
  c.subscribe(ROOM, info === undefined ? { user_id: userId } : { user_id: userId, user_info: info });
}

describe('presence', () => {
  it('gives a joiner the roster and tells the others, once per user', () => {
    const h = coreWith();
    const [alice, bob, bob2] = [h.connect(), h.connect(), h.connect()];
    join(alice, 'alice', { name: 'Alice' });
    join(bob, 'bob', { name: 'Bob' });
    expect(bob.drain()).toMatchObject([
      {
        event: 'pusher_internal:subscription_succeeded',
        channel: ROOM,
        data: { presence: { ids: ['alice', 'bob'], hash: { alice: { name: 'Alice' }, bob: { name: 'Bob' } }, count: 2 } },
      },
    ]);
    expect(alice.drain()).toMatchObject([
      { event: 'pusher_internal:subscription_succeeded' },
      { event: 'pusher_internal:member_added', channel: ROOM, data: { user_id: 'bob', user_info: { name: 'Bob' } } },
    ]);

    // bob's second connection: the roster is unchanged and nobody hears of a new member.
    join(bob2, 'bob', { name: 'Bob' });
    expect(bob2.drain()).toMatchObject([{ event: 'pusher_internal:subscription_succeeded', data: { presence: { ids: ['alice', 'bob'], count: 2 } } }]);
    expect(alice.drain()).toEqual([]);
    expect(bob.drain()).toEqual([]);
  });

  it('sends member_removed only when a user’s last connection leaves, by close or by unsubscribe', () => {
    const h = coreWith();
    const [alice, bob, bob2] = [h.connect(), h.connect(), h.connect()];
    join(alice, 'alice');
    join(bob, 'bob');
    join(bob2, 'bob');
    alice.drain();
    bob2.drain();

    bob.disconnect(1001);
    expect(alice.drain()).toEqual([]);
    expect(bob2.drain()).toEqual([]);

    bob2.unsubscribe(ROOM);
    expect(alice.drain()).toMatchObject([{ event: 'pusher_internal:member_removed', channel: ROOM, data: { user_id: 'bob' } }]);
    expect(bob2.drain()).toEqual([]);
  });

  it('takes the member from the signed-in user when channel_data is absent', () => {
    const h = coreWith();
    const c = h.connect();
    c.signin({ id: 'carol', user_info: { role: 'admin' } });
    c.subscribe(ROOM);
    expect(c.drain()).toMatchObject([
      { event: 'pusher:signin_success' },
      { event: 'pusher_internal:subscription_succeeded', data: { presence: { ids: ['carol'], hash: { carol: { role: 'admin' } }, count: 1 } } },
    ]);
  });

  it('refuses a new user past maxPresenceMembers with LimitReached 403, silently, but admits another connection of a member', () => {
    const h = coreWith({ limits: { maxPresenceMembers: 2 } });
    const [alice, bob, carol, alice2] = [h.connect(), h.connect(), h.connect(), h.connect()];
    join(alice, 'alice');
    join(bob, 'bob');
    alice.drain();
    bob.drain();

    join(carol, 'carol');
    expect(carol.drain()).toMatchObject([{ event: 'pusher:subscription_error', channel: ROOM, data: { type: 'LimitReached', status: 403 } }]);
    expect(carol.conn.channels.has(ROOM)).toBe(false);
    // The refused user was never announced, so it is neither added nor removed.
    expect(alice.drain()).toEqual([]);
    expect(bob.drain()).toEqual([]);

    // The limit counts users, not connections.
    join(alice2, 'alice');
    expect(alice2.drain()).toMatchObject([{ event: 'pusher_internal:subscription_succeeded', data: { presence: { ids: ['alice', 'bob'], count: 2 } } }]);
  });

  it('refuses a presence subscription whose channel_data has no user_id with AuthError 400', () => {
    const h = coreWith();
    const c = h.connect();
    c.subscribe(ROOM, { user_info: {} } as unknown as { user_id: string });
    expect(c.drain()).toMatchObject([{ event: 'pusher:subscription_error', data: { type: 'AuthError', status: 400 } }]);
  });
});
