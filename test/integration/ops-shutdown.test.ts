/**
 * A restart as an operator does it on one host, with the real CLI as child processes: the new
 * server starts on the same port (uWS listens with SO_REUSEPORT), then SIGTERM to the old one
 * turns its readiness off, closes its pusher-js clients with 4200, and exits 0 within
 * shutdownGraceSec; the same clients reconnect by themselves to the new server and receive
 * events again.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP, connected, once, PusherClient, subscribed, type PusherJS } from '../helpers/server.js';
import { buildCli, startHerald, writeConfig, type HeraldProcess } from '../helpers/herald-process.js';
import { freePort } from '../helpers/ports.js';
import Pusher from 'pusher';

const dir = mkdtempSync(join(tmpdir(), 'herald-shutdown-'));
const children: HeraldProcess[] = [];
const clients: PusherJS[] = [];

beforeAll(async () => {
  await buildCli();
}, 60_000);
afterAll(() => {
  for (const c of clients) c.disconnect();
  for (const p of children) p.child.kill('SIGKILL');
});

function client(port: number): PusherJS {
  const c = new PusherClient(APP.key, {
    cluster: 'mt1',
    wsHost: '127.0.0.1',
    wsPort: port,
    forceTLS: false,
    enabledTransports: ['ws'],
  });
  clients.push(c);
  return c;
}

describe('SIGTERM', () => {
  it('fails readiness, closes clients with 4200, exits in time, and clients reconnect to the restarted server', async () => {
    const port = await freePort();
    const file = join(dir, 'herald.json');
    writeConfig(file, {
      port,
      metricsPort: 0,
      shutdownGraceSec: 5,
      shutdownDrainDelaySec: 1,
      stateDir: join(dir, 'state'),
      apps: [APP],
    });
    const first = await startHerald(file);
    children.push(first);
    expect(first.port).toBe(port);

    const pusherClients = [client(port), client(port)];
    const before = await Promise.all(pusherClients.map((c) => connected(c)));
    await Promise.all(pusherClients.map((c) => subscribed(c, 'orders')));
    const kicked = pusherClients.map((c) =>
      once<{ data?: { code?: number } }>((cb) => c.connection.bind('error', cb), 'pusher:error before the close', 10_000),
    );

    // One running server per stateDir (README): the overlapping process gets its own.
    const second = await startHerald(file, { env: { HERALD_STATE_DIR: join(dir, 'state-2') } });
    children.push(second);
    expect(second.port).toBe(port);

    const from = first.logs.length;
    first.child.kill('SIGTERM');
    const sentAt = Date.now();
    await first.waitLog((l) => l.msg === 'draining: readiness is now false', 'draining', from);
    // During the drain delay the old process still runs, but reports not ready; the new one is ready.
    const ready = await fetch(`http://127.0.0.1:${first.metricsPort}/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.text()).toContain('draining');
    expect((await fetch(`http://127.0.0.1:${first.metricsPort}/health`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${second.metricsPort}/ready`)).status).toBe(200);

    for (const k of kicked) expect((await k).data?.code).toBe(4200);
    const exit = await first.exited;
    expect(exit.code).toBe(0);
    expect(exit.atMs - sentAt).toBeLessThan(5000);
    expect(first.logs.some((l) => l.msg === 'stopped' && Array.isArray(l.incomplete) && l.incomplete.length === 0)).toBe(true);

    const after = await Promise.all(
      pusherClients.map((c) =>
        once<string>((cb) => {
          const check = (): void => {
            if (c.connection.state === 'connected' && !before.includes(c.connection.socket_id)) cb(c.connection.socket_id);
          };
          c.connection.bind('connected', check);
          check();
        }, 'reconnect to the new server', 5_000),
      ),
    );
    expect(after.every((id) => !before.includes(id))).toBe(true);

    // pusher-js resubscribes on reconnect: an event published now reaches both clients.
    const got = pusherClients.map((c) => once((cb) => c.channel('orders').bind('shipped', cb), 'event after restart', 10_000));
    await waitSubscribed(pusherClients);
    const sdk = new Pusher({ appId: APP.id, key: APP.key, secret: APP.secret, host: '127.0.0.1', port: String(port), useTLS: false });
    await sdk.trigger('orders', 'shipped', { id: 7 });
    expect(await Promise.all(got)).toEqual([{ id: 7 }, { id: 7 }]);
  }, 40_000);
});

/** Resolves once every client's "orders" subscription is confirmed by the new server. */
function waitSubscribed(cs: PusherJS[]): Promise<unknown> {
  return Promise.all(
    cs.map((c) => {
      const ch = c.channel('orders');
      return ch.subscribed ? undefined : once((cb) => ch.bind('pusher:subscription_succeeded', cb), 'resubscribed', 10_000);
    }),
  );
}
