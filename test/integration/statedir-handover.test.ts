/**
 * Issue 13, fault 5: two Herald processes on one host and one stateDir. Before the lock, a second
 * server on the same stateDir started, answered /ready 200 and logged nothing, and the documented
 * overlapping restart (a fresh stateDir for the new process) lost the day's quota count and the
 * old process's pending webhooks. Here, with the real CLI: a second plain start is refused, a
 * stale lock is taken over, and `--take-over` carries the count and a pending webhook across.
 */
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Pusher from 'pusher';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP, connected, once, PusherClient, subscribed, type PusherJS } from '../helpers/server.js';
import { buildCli, spawnHerald, startHerald, writeConfig, type HeraldProcess, type LogLine } from '../helpers/herald-process.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'herald-statedir-'));
const children: Array<{ child: HeraldProcess['child'] }> = [];
const clients: PusherJS[] = [];
const servers: Server[] = [];

beforeAll(async () => {
  await buildCli();
}, 60_000);
afterAll(() => {
  for (const c of clients) c.disconnect();
  for (const p of children) p.child.kill('SIGKILL');
  for (const s of servers) s.close();
});

function config(name: string, extra: Record<string, unknown> = {}): { file: string; stateDir: string } {
  const file = join(dir, `${name}.json`);
  const stateDir = join(dir, `${name}-state`);
  writeConfig(file, { port: 0, metricsPort: 0, shutdownGraceSec: 5, stateDir, apps: [APP], ...extra });
  return { file, stateDir };
}

/** HERALD_STATE_DIR as the config names it (the helper otherwise gives each process its own). */
const on = (stateDir: string, more: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ HERALD_STATE_DIR: stateDir, ...more });

async function start(file: string, stateDir: string, opts: { args?: string[] } = {}): Promise<HeraldProcess> {
  const p = await startHerald(file, { env: on(stateDir), ...opts });
  children.push(p);
  return p;
}

const lockPid = (stateDir: string): number => Number(readFileSync(join(stateDir, 'herald.lock'), 'utf8').trim());

describe('one Herald per stateDir', () => {
  it('refuses a second server on a held stateDir, naming the directory and the pid, exit 1', async () => {
    const { file, stateDir } = config('refuse');
    const first = await start(file, stateDir);
    const second = await spawnHerald(file, { env: on(stateDir) });
    children.push(second);
    const exit = await Promise.race([second.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 10_000))]);
    expect(exit).not.toBe('timeout');
    expect(exit !== 'timeout' && exit.code).toBe(1);
    const message = second.stderr.join('\n');
    expect(message).toContain(`stateDir ${stateDir} is in use by another Herald (pid ${first.child.pid}`);
    expect(message).toContain('--take-over');
    expect(second.logs.some((l) => l.msg === 'herald listening')).toBe(false);
    expect(lockPid(stateDir)).toBe(first.child.pid);
    expect((await fetch(`http://127.0.0.1:${first.metricsPort}/ready`)).status).toBe(200);
  }, 20_000);

  it('takes over a stale lock (its pid is dead) with a log line', async () => {
    const { file, stateDir } = config('stale');
    const dead = spawnSync(process.execPath, ['-e', '0']).pid; // has exited by now
    spawnSync('mkdir', ['-p', stateDir]);
    writeFileSync(join(stateDir, 'herald.lock'), `${dead}\n`);
    const p = await start(file, stateDir);
    const line = await p.waitLog((l) => l.msg === 'stateDir lock left by a process that is no longer running; taking it over', 'stale lock log');
    expect(line.stalePid).toBe(dead);
    expect(lockPid(stateDir)).toBe(p.child.pid);
  }, 20_000);
});

describe('herald start --take-over', () => {
  it('listens before the old process stops, then carries the day count and a pending webhook across', async () => {
    // The webhook receiver is down while the first process runs: its channel_occupied request waits for a retry.
    const hookPort = await freePort();
    const port = await freePort();
    const { file, stateDir } = config('handover', {
      port,
      usageFlushSec: 600, // only the final flush at stop can carry the count
      logLevel: 'debug',
      webhookRetryInitialMs: 300,
      apps: [{ ...APP, limits: { maxMessagesPerDay: 1000 }, webhooks: [{ url: `http://127.0.0.1:${hookPort}/hook`, events: ['channel_occupied', 'channel_vacated'] }] }],
    });
    const old = await start(file, stateDir);
    const pusher = new Pusher({ appId: APP.id, key: APP.key, secret: APP.secret, host: '127.0.0.1', port: String(port), useTLS: false });

    const c = new PusherClient(APP.key, { cluster: 'mt1', wsHost: '127.0.0.1', wsPort: port, forceTLS: false, enabledTransports: ['ws'] });
    clients.push(c);
    const firstSocket = await connected(c);
    await subscribed(c, 'news');
    await old.waitLog((l) => l.msg === 'webhook attempt failed; will retry', 'a failed webhook attempt');
    // Every REST call counts one message (§8) and each delivery one more.
    let before = 0;
    for (let i = 0; i < 5; i++) before = remaining(await pusher.trigger('news', 'tick', { i }));
    expect(before).toBeLessThanOrEqual(1000 - 1 - 2 * 4);

    const resubscribed = once((cb) => c.channel('news').bind('pusher:subscription_succeeded', cb), 'news subscribed again', 15_000);
    const kicked = once<{ data?: { code?: number } }>((cb) => c.connection.bind('error', cb), 'the 4200 from the old process', 15_000);
    const next = await start(file, stateDir, { args: ['--take-over'] });
    const listening = next.logs.find((l) => l.msg === 'herald listening') as LogLine;
    const handedOver = await next.waitLog((l) => l.msg === 'stateDir handed over', 'stateDir handed over', 0, 15_000);
    const stopped = await old.exited;
    expect(stopped.code).toBe(0);
    expect((await kicked).data?.code).toBe(4200);
    // The order: the new process listened before the old one began draining, and adopted after it released.
    const draining = old.logs.find((l) => l.msg === 'draining: readiness is now false') as LogLine;
    expect(Number(listening.time)).toBeLessThanOrEqual(Number(draining.time));
    expect(handedOver.from).toBe(old.child.pid);
    expect(lockPid(stateDir)).toBe(next.child.pid);

    // The client came back to the new process by itself; the count goes on from the old one's.
    await waitFor(() => c.connection.state === 'connected' && c.connection.socket_id !== firstSocket, 'the client reconnected', 10_000);
    await resubscribed;
    const got = once<unknown>((cb) => c.bind('tock', cb), 'an event through the new process');
    const res = await pusher.trigger('news', 'tock', {});
    await got;
    expect(remaining(res)).toBe(before - 2); // nothing counted twice, nothing lost

    // The receiver comes up: the old process's saved request is delivered by the new one, and the
    // client's move is a return, not a vacated/occupied pair.
    const hooks: Array<{ name: string; channel: string }> = [];
    const receiver = createServer((req, r) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        hooks.push(...(JSON.parse(body) as { events: Array<{ name: string; channel: string }> }).events);
        r.end('ok');
      });
    });
    servers.push(receiver);
    await new Promise<void>((r) => receiver.listen(hookPort, '127.0.0.1', r));
    await waitFor(() => hooks.length > 0, 'the saved webhook delivered by the new process', 10_000);
    await new Promise((r) => setTimeout(r, 3500)); // past webhookDelayMs: a wrongly held vacated would have fired
    expect(hooks).toEqual([{ name: 'channel_occupied', channel: 'news' }]);
  }, 45_000);
});

function remaining(res: { headers: { get(name: string): string | null } }): number {
  return Number(res.headers.get('x-herald-quota-remaining'));
}
