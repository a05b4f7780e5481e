/**
 * The stateDir lock (state/lock.ts) and the webhook side of a handover (dispatcher adopt()),
 * without a server. The lock: claimed whole, refused while its pid lives, taken over when it is
 * dead or unreadable, waited for during a take-over. The dispatcher: an occupied event seen while
 * the old process still held the matching vacated is a return, not a pair.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AppRegistry } from '../../src/apps/registry.js';
import { parseConfig } from '../../src/config/config.js';
import { DailyMeter } from '../../src/quota/daily.js';
import { StateDirLock, StateDirLocked } from '../../src/state/lock.js';
import { WebhookDispatcher } from '../../src/webhooks/dispatcher.js';
import { loadState, saveState, STATE_VERSION } from '../../src/webhooks/store.js';
import type { Logger } from '../../src/log.js';

const root = mkdtempSync(join(tmpdir(), 'herald-statedir-unit-'));
const sleepers: ChildProcess[] = [];
afterAll(() => {
  for (const p of sleepers) p.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

let n = 0;
const freshDir = (): string => join(root, `d${n++}`);

/** A logger that records warnings (message and fields). */
function recorder(): { logger: Logger; warnings: Array<Record<string, unknown>> } {
  const warnings: Array<Record<string, unknown>> = [];
  const noop = (): void => {};
  const logger = { info: noop, debug: noop, error: noop, warn: (fields: Record<string, unknown>, msg: string) => warnings.push({ ...fields, msg }) } as unknown as Logger;
  return { logger, warnings };
}

function liveProcess(): ChildProcess {
  const p = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  sleepers.push(p);
  return p;
}

const deadPid = (): number => spawnSync(process.execPath, ['-e', '0']).pid ?? 0;

describe('StateDirLock', () => {
  it('is claimed with this pid, and released', async () => {
    const lock = new StateDirLock(freshDir(), recorder().logger);
    expect(await lock.claim()).toBeUndefined();
    expect(lock.held).toBe(true);
    expect(readFileSync(lock.path, 'utf8')).toBe(`${process.pid}\n`);
    await lock.release();
    expect(existsSync(lock.path)).toBe(false);
  });

  it('names the live holder and leaves its lock alone', async () => {
    const holder = liveProcess();
    const lock = new StateDirLock(freshDir(), recorder().logger);
    await lock.claim();
    writeFileSync(lock.path, `${holder.pid}\n`);
    const other = new StateDirLock(lock.dir, recorder().logger);
    expect(await other.claim()).toBe(holder.pid);
    expect(other.held).toBe(false);
    await other.release(); // not the holder: nothing removed
    expect(readFileSync(lock.path, 'utf8')).toBe(`${holder.pid}\n`);
    expect(new StateDirLocked(lock.dir, holder.pid ?? 0).message).toContain(`is in use by another Herald (pid ${holder.pid}, lock file ${lock.path})`);
  });

  it.each([
    ['a dead pid', () => `${deadPid()}\n`],
    ['no pid at all', () => 'garbage'],
    ['an empty file', () => ''],
  ])('takes over a lock holding %s, with a warning', async (_what, content) => {
    const dir = freshDir();
    const { logger, warnings } = recorder();
    const lock = new StateDirLock(dir, logger);
    await lock.claim();
    writeFileSync(lock.path, content());
    const next = new StateDirLock(dir, logger);
    expect(await next.claim()).toBeUndefined();
    expect(readFileSync(lock.path, 'utf8')).toBe(`${process.pid}\n`);
    expect(warnings.map((w) => w.msg)).toEqual(['stateDir lock left by a process that is no longer running; taking it over']);
  });

  it('waits for the holder to go, then claims; a stop cancels the wait', async () => {
    const holder = liveProcess();
    const dir = freshDir();
    const lock = new StateDirLock(dir, recorder().logger);
    await lock.claim();
    writeFileSync(lock.path, `${holder.pid}\n`);
    expect(await lock.waitAndClaim(holder.pid ?? 0, () => true)).toBe(false);
    const claimed = lock.waitAndClaim(holder.pid ?? 0, () => false, 5);
    holder.kill('SIGKILL');
    expect(await claimed).toBe(true);
    expect(lock.held).toBe(true);
  });

  it('refuses when a third process claimed the directory first', async () => {
    const [old, third] = [liveProcess(), liveProcess()];
    const lock = new StateDirLock(freshDir(), recorder().logger);
    await lock.claim();
    writeFileSync(lock.path, `${old.pid}\n`);
    const waiting = lock.waitAndClaim(old.pid ?? 0, () => false, 5);
    writeFileSync(lock.path, `${third.pid}\n`);
    await expect(waiting).rejects.toThrow(`pid ${third.pid}`);
  });
});

describe('WebhookDispatcher handover', () => {
  const config = parseConfig(
    { webhookBatchMs: 60_000, apps: [{ id: 'a1', key: 'k1', secret: 's3cr3t-xxxxxxxxx', webhooks: [{ url: 'http://127.0.0.1:1/hook' }] }] },
    'unit',
  );
  const apps = new AppRegistry(config.apps);
  const app = apps.byId('a1');
  if (app === undefined) throw new Error('no app');

  /** A dispatcher mid-handover; events stay in the batcher until stop() saves them. */
  function dispatcher(stateFile: string): WebhookDispatcher {
    const d = new WebhookDispatcher({ settings: config, apps, meter: new DailyMeter(Date.now), logger: recorder().logger, now: Date.now, stateFile });
    d.startHandover();
    return d;
  }

  /** What the old process saved: a held channel_vacated for each channel. */
  async function oldSaved(file: string, vacated: string[]): Promise<void> {
    const held = vacated.map((channel) => ({ appId: 'a1', name: 'channel_vacated' as const, channel, dueAtMs: Date.now() + 1000 }));
    await saveState(file, { version: STATE_VERSION, savedAtMs: Date.now(), deliveries: [], held });
  }

  /** Stops the dispatcher and reads back the events it would still send (batched and held). */
  async function pending(d: WebhookDispatcher, file: string): Promise<{ sent: string[]; held: string[] }> {
    await d.stop();
    const state = await loadState(file);
    const sent = (state?.deliveries ?? []).flatMap((x) => (JSON.parse(x.body) as { events: Array<{ name: string; channel: string }> }).events.map((e) => `${e.name} ${e.channel}`));
    return { sent, held: (state?.held ?? []).map((h) => `${h.name} ${h.channel}`) };
  }

  it('drops the pair for a channel that moved here, and sends occupied for a new one', async () => {
    const file = join(mkdtempSync(join(root, 'wh-')), 'webhooks.json');
    const d = dispatcher(file);
    d.channelOccupied(app, 'moved'); // its vacated is held by the old process
    d.channelOccupied(app, 'fresh'); // never occupied there
    await oldSaved(file, ['moved', 'gone']);
    await d.adopt();
    expect(await pending(d, file)).toEqual({ sent: ['channel_occupied fresh'], held: ['channel_vacated gone'] });
  });

  it('keeps its own newer hold for a channel that moved here and left again', async () => {
    const file = join(mkdtempSync(join(root, 'wh-')), 'webhooks.json');
    const d = dispatcher(file);
    d.channelOccupied(app, 'bounce');
    d.channelVacated(app, 'bounce');
    await oldSaved(file, ['bounce']);
    await d.adopt();
    const state = await pending(d, file);
    expect(state).toEqual({ sent: [], held: ['channel_vacated bounce'] });
  });
});
