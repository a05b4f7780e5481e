/**
 * Laravel Echo with the Pusher broadcaster against Herald (issue 3): `.here/.joining/.leaving` on
 * a presence channel and `.whisper`/`.listenForWhisper` between two clients. Echo gets a
 * pusher-js instance through its `client` option; channel auth is signed with the `pusher` SDK,
 * as a Laravel backend's broadcasting/auth route would.
 */
import Echo from 'laravel-echo';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authClient, type Member } from '../helpers/auth.js';
import { APP, once, startServer, type TestServer } from '../helpers/server.js';

let t: TestServer;

beforeAll(async () => {
  t = await startServer({ apps: [{ ...APP, enableClientEvents: true }] });
});
afterAll(() => t.close());

function echoFor(member: Member): Echo<'pusher'> {
  const client = authClient(t, member);
  return new Echo({ broadcaster: 'pusher', key: APP.key, cluster: 'mt1', client } as unknown as ConstructorParameters<typeof Echo<'pusher'>>[0]);
}

interface User {
  name: string;
}

describe('Laravel Echo (Pusher broadcaster)', () => {
  it('joins a presence channel: here, joining, whisper, listenForWhisper, leaving', async () => {
    const alice = echoFor({ user_id: '1', user_info: { name: 'Alice' } });
    const aliceHere = once<User[]>((cb) => alice.join('chat.1').here(cb), 'alice here');
    expect(await aliceHere).toEqual([{ name: 'Alice' }]);

    const joining = once<User>((cb) => alice.join('chat.1').joining(cb), 'alice sees joining');
    const bob = echoFor({ user_id: '2', user_info: { name: 'Bob' } });
    const bobHere = once<User[]>((cb) => bob.join('chat.1').here(cb), 'bob here');
    expect((await bobHere).sort((a, b) => a.name.localeCompare(b.name))).toEqual([{ name: 'Alice' }, { name: 'Bob' }]);
    expect(await joining).toEqual({ name: 'Bob' });

    const whispered = once<{ typing: boolean }>((cb) => bob.join('chat.1').listenForWhisper('typing', cb), 'bob hears the whisper');
    alice.join('chat.1').whisper('typing', { typing: true });
    expect(await whispered).toEqual({ typing: true });

    const back = once<{ ok: number }>((cb) => alice.join('chat.1').listenForWhisper('reply', cb), 'alice hears the reply');
    bob.join('chat.1').whisper('reply', { ok: 1 });
    expect(await back).toEqual({ ok: 1 });

    const leaving = once<User>((cb) => alice.join('chat.1').leaving(cb), 'alice sees leaving');
    bob.leave('chat.1');
    expect(await leaving).toEqual({ name: 'Bob' });
    alice.disconnect();
  });

  it('whispers on a private channel and receives a broadcast event from the SDK', async () => {
    const a = echoFor({ user_id: '3' });
    const b = echoFor({ user_id: '4' });
    const subscribedA = once((cb) => a.private('orders').subscribed(cb), 'a subscribed');
    const subscribedB = once((cb) => b.private('orders').subscribed(cb), 'b subscribed');
    await Promise.all([subscribedA, subscribedB]);

    const heard = once<{ at: number }>((cb) => b.private('orders').listenForWhisper('cursor', cb), 'whisper');
    a.private('orders').whisper('cursor', { at: 5 });
    expect(await heard).toEqual({ at: 5 });

    // Laravel broadcasts "App\Events\OrderShipped"; Echo listens with its App\Events namespace.
    const shipped = once<{ id: number }>((cb) => a.private('orders').listen('OrderShipped', cb), 'OrderShipped');
    await t.sdk().trigger('private-orders', 'App\\Events\\OrderShipped', { id: 42 });
    expect(await shipped).toEqual({ id: 42 });
  });
});
