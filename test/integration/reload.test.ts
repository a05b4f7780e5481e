/**
 * Config reload on the real CLI: SIGHUP applies a new file in which one app's secret is
 * rotated and its limits changed, one app is removed, one disabled and one added. Existing
 * connections of kept apps stay open and work under the new secret; REST calls signed with the
 * old secret are refused; the removed and disabled apps' clients are closed with 4001 and 4003.
 * A bad file sent through `herald reload --pid-file` is refused and the old config keeps serving.
 */
import { spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Pusher from 'pusher';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, startHerald, writeConfig, type HeraldProcess } from '../helpers/herald-process.js';
import { connected, FrameReader, once, PusherClient, subscribed, type PusherJS } from '../helpers/server.js';
import WebSocket from 'ws';

const A = { id: 'app-a', key: 'key-a', secret: 'secret-a-old-5f1c' };
const A_NEW_SECRET = 'secret-a-new-9d2e';
const B = { id: 'app-b', key: 'key-b', secret: 'secret-b-77aa-xx' };
const C = { id: 'app-c', key: 'key-c', secret: 'secret-c-31bb-xx' };
const D = { id: 'app-d', key: 'key-d', secret: 'secret-d-c0de-xx' };

const dir = mkdtempSync(join(tmpdir(), 'herald-reload-'));
const file = join(dir, 'herald.json');
const pidFile = join(dir, 'herald.pid');
const base = { port: 0, metricsPort: 0, stateDir: join(dir, 'state') };
let h: HeraldProcess;
let cli: string;
const clients: PusherJS[] = [];

beforeAll(async () => {
  cli = await buildCli();
  writeConfig(file, { ...base, apps: [A, B, C] });
  h = await startHerald(file, { pidFile });
}, 60_000);
afterAll(() => {
  for (const c of clients) c.disconnect();
  h?.child.kill('SIGKILL');
});

function client(key: string): PusherJS {
  const c = new PusherClient(key, { cluster: 'mt1', wsHost: '127.0.0.1', wsPort: h.port, forceTLS: false, enabledTransports: ['ws'] });
  clients.push(c);
  return c;
}

function sdk(app: { id: string; key: string; secret: string }): Pusher {
  return new Pusher({ appId: app.id, key: app.key, secret: app.secret, host: '127.0.0.1', port: String(h.port), useTLS: false });
}

function closeCode(c: PusherJS): Promise<number | undefined> {
  return once<{ data?: { code?: number } }>((cb) => c.connection.bind('error', cb), 'pusher:error before close', 10_000).then((e) => e.data?.code);
}

function privateSubscribe(reader: FrameReader, socketId: string, channel: string, secret: string): void {
  const sig = createHmac('sha256', secret).update(`${socketId}:${channel}`).digest('hex');
  reader.send({ event: 'pusher:subscribe', data: { channel, auth: `${A.key}:${sig}` } });
}

describe('reload', () => {
  it('applies a new config on SIGHUP without dropping kept connections, and refuses a bad one from `herald reload`', async () => {
    const a = client(A.key);
    const aSocket = await connected(a);
    await subscribed(a, 'news');
    const states: string[] = [];
    a.connection.bind('state_change', (s: { current: string }) => states.push(s.current));
    const raw = new FrameReader(new WebSocket(`ws://127.0.0.1:${h.port}/app/${A.key}?protocol=7`));
    const est = await raw.event('pusher:connection_established');
    const rawSocket = (JSON.parse(est.data as string) as { socket_id: string }).socket_id;
    const b = client(B.key);
    const c = client(C.key);
    await Promise.all([connected(b), connected(c)]);
    const bClosed = closeCode(b);
    const cClosed = closeCode(c);

    // Rotate A's secret and shrink its payload limit, remove B, disable C, add D; one restart-only change.
    writeConfig(file, {
      ...base,
      activityTimeoutSec: 60,
      apps: [{ ...A, secret: A_NEW_SECRET, limits: { maxPayloadBytes: 100 } }, { ...C, enabled: false }, D],
    });
    let from = h.logs.length;
    process.kill(h.child.pid as number, 'SIGHUP');
    const reloaded = await h.waitLog((l) => l.msg === 'config reloaded', 'config reloaded', from);
    expect(reloaded).toMatchObject({ added: ['app-d'], removed: ['app-b'], disabled: ['app-c'], rotated: ['app-a'], changed: ['app-a'], closedConnections: 2 });
    await h.waitLog((l) => l.msg?.includes('only after a restart') === true && JSON.stringify(l.settings) === '["activityTimeoutSec"]', 'restart warning', from);

    expect(await bClosed).toBe(4001);
    expect(await cClosed).toBe(4003);

    // A's connections were kept and work under the new secret.
    await expect(sdk(A).trigger('news', 'ev', {})).rejects.toMatchObject({ status: 401 });
    const got = once((cb) => a.channel('news').bind('ev', cb), 'event after rotation');
    await sdk({ ...A, secret: A_NEW_SECRET }).trigger('news', 'ev', { rotated: true });
    expect(await got).toEqual({ rotated: true });
    expect(a.connection.socket_id).toBe(aSocket);
    expect(states).toEqual([]);
    await expect(sdk({ ...A, secret: A_NEW_SECRET }).trigger('news', 'big', { pad: 'x'.repeat(150) })).rejects.toMatchObject({ status: 413 });
    privateSubscribe(raw, rawSocket, 'private-old', A.secret);
    expect((await raw.event('pusher:subscription_error')).channel).toBe('private-old');
    privateSubscribe(raw, rawSocket, 'private-new', A_NEW_SECRET);
    expect((await raw.event('pusher_internal:subscription_succeeded')).channel).toBe('private-new');
    await connected(client(D.key));

    // A bad file (empty secret) through the documented command: refused, old config stays.
    writeConfig(file, { ...base, apps: [{ ...A, secret: '' }, D] });
    from = h.logs.length;
    const r = spawnSync(process.execPath, [cli, 'reload', '--pid-file', pidFile], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stderr).toContain(`pid ${h.child.pid}`);
    const refused = await h.waitLog((l) => l.msg?.startsWith('config reload refused') === true, 'config reload refused', from);
    expect(String(refused.reason)).toContain('"apps[0].secret" must not be empty');

    const again = once((cb) => a.channel('news').bind('ev2', cb), 'event after refused reload');
    await sdk({ ...A, secret: A_NEW_SECRET }).trigger('news', 'ev2', { still: 'serving' });
    expect(await again).toEqual({ still: 'serving' });
    await expect(sdk(A).trigger('news', 'ev2', {})).rejects.toMatchObject({ status: 401 });
    expect(a.connection.socket_id).toBe(aSocket);
    expect(states).toEqual([]);

    const metrics = await (await fetch(`http://127.0.0.1:${h.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/^herald_config_reloads_total\{result="applied"\} 1$/m);
    expect(metrics).toMatch(/^herald_config_reloads_total\{result="refused"\} 1$/m);
    expect(metrics).toContain('herald_connections{app="app-d"} 1');
    expect(metrics).not.toContain('herald_connections{app="app-b"}'); // gauges list only configured apps
  }, 30_000);

  it('`herald reload` explains a missing pid file', () => {
    const r = spawnSync(process.execPath, [cli, 'reload', '--pid-file', join(dir, 'missing.pid')], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^herald: cannot read pid file .*missing\.pid/);
  });
});
