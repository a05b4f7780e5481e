/**
 * Issue 4's daily message quota end to end: a real server, the `pusher` SDK, pusher-js and raw
 * sockets. Counts are read from the server's meter and from the X-Herald-Quota-Remaining header.
 */
import { createHash, createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DAY_MS, utcDay } from '../../src/quota/daily.js';
import { usageCommand } from '../../src/quota/report.js';
import { APP, FrameReader, rawConnect, startServer, type TestServer } from '../helpers/server.js';

const servers: TestServer[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const t of servers.splice(0)) await t.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function serve(limits: Record<string, number>, extra: Record<string, unknown> = {}, now?: () => number): Promise<TestServer> {
  const t = await startServer({ apps: [{ ...APP, enableClientEvents: true, limits }], ...extra }, now);
  servers.push(t);
  return t;
}

/** A REST request signed the way the SDKs sign it, with `nowMs` as the auth timestamp. */
function signed(t: TestServer, method: 'GET' | 'POST', path: string, body: unknown, nowMs = Date.now()): Promise<Response> {
  const text = body === undefined ? '' : JSON.stringify(body);
  const q = new URLSearchParams({ auth_key: APP.key, auth_timestamp: String(Math.floor(nowMs / 1000)), auth_version: '1.0' });
  if (text) q.set('body_md5', createHash('md5').update(text).digest('hex'));
  const sorted = [...q.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${v}`).join('&');
  q.set('auth_signature', createHmac('sha256', APP.secret).update(`${method}\n${path}\n${sorted}`).digest('hex'));
  return fetch(`http://127.0.0.1:${t.port}${path}?${q.toString()}`, { method, body: text || undefined, headers: { 'content-type': 'application/json' } });
}

const publish = (t: TestServer, channel: string, nowMs?: number, extra: Record<string, unknown> = {}): Promise<Response> =>
  signed(t, 'POST', `/apps/${APP.id}/events`, { name: 'e', channels: [channel], data: '{}', ...extra }, nowMs);

/** Raw sockets subscribed to `channel` (private channels signed with the SDK). */
async function subscribers(t: TestServer, channel: string, n: number): Promise<Array<{ reader: FrameReader; socketId: string }>> {
  const out = [];
  for (let i = 0; i < n; i++) {
    const s = await rawConnect(t);
    const auth = channel.startsWith('private-') ? t.sdk().authorizeChannel(s.socketId, channel).auth : '';
    s.reader.send({ event: 'pusher:subscribe', data: { channel, auth } });
    await s.reader.event('pusher_internal:subscription_succeeded');
    out.push(s);
  }
  return out;
}

function nextMidnightIso(nowMs: number): string {
  return new Date((utcDay(nowMs) + 1) * DAY_MS).toISOString();
}

describe('daily message quota', () => {
  it('accepts publishes within the quota and refuses the one past it with 403, the limit and the reset time', async () => {
    const t = await serve({ maxMessagesPerDay: 5 });
    for (let i = 1; i <= 5; i++) {
      const res = await publish(t, 'quiet');
      expect(res.status).toBe(200);
      expect(res.headers.get('x-herald-quota-remaining')).toBe(String(5 - i));
    }
    const over = await publish(t, 'quiet');
    expect(over.status).toBe(403);
    const body = await over.text();
    expect(body).toMatch(/over quota/);
    expect(body).toMatch(/5 messages per day/);
    expect(body).toContain(`resets at ${nextMidnightIso(Date.now())}`);
    expect(over.headers.get('x-herald-quota-remaining')).toBe('0');
    await expect(t.sdk().trigger('quiet', 'e', {})).rejects.toMatchObject({ status: 403 });
  });

  it('keeps connections, subscriptions and channel queries working when over quota, and refuses client events', async () => {
    const t = await serve({ maxMessagesPerDay: 1 });
    const [a, b] = await subscribers(t, 'private-over', 2);
    expect((await publish(t, 'nobody')).status).toBe(200);
    expect((await publish(t, 'nobody')).status).toBe(403);
    const late = await subscribers(t, 'still-works', 1);
    expect(late).toHaveLength(1);
    expect((await signed(t, 'GET', `/apps/${APP.id}/channels`, undefined)).status).toBe(200);
    a?.reader.send({ event: 'client-typing', channel: 'private-over', data: {} });
    const err = await a?.reader.event('pusher:error');
    expect((err?.data as { message: string }).message).toMatch(/over its daily message quota of 1/);
    expect(b?.reader.frames.some((f) => f.event === 'client-typing')).toBe(false);
  });

  it('counts a publish to a channel with N subscribers as 1 + N (2 + N with info, one fewer with socket_id)', async () => {
    const t = await serve({});
    const subs = await subscribers(t, 'fan', 3);
    const used = (): number => t.server.meter.used(APP.id);
    let before = used();
    expect((await publish(t, 'fan')).status).toBe(200);
    expect(used() - before).toBe(1 + 3);
    before = used();
    expect((await publish(t, 'fan', undefined, { info: 'subscription_count' })).status).toBe(200);
    expect(used() - before).toBe(2 + 3);
    before = used();
    expect((await publish(t, 'fan', undefined, { socket_id: subs[0]?.socketId })).status).toBe(200);
    expect(used() - before).toBe(1 + 2);
    before = used();
    expect((await signed(t, 'GET', `/apps/${APP.id}/channels/fan`, undefined)).status).toBe(200);
    expect(used() - before).toBe(1); // a query is one message, with no deliveries
    for (const s of subs) await s.reader.event('e');
  });

  it('counts client events once per recipient and presence member_added/member_removed once per recipient', async () => {
    const t = await serve({});
    const used = (): number => t.server.meter.used(APP.id);
    const [a, b, c] = await subscribers(t, 'private-chat', 3);
    let before = used();
    a?.reader.send({ event: 'client-typing', channel: 'private-chat', data: { who: 'a' } });
    await Promise.all([b?.reader.event('client-typing'), c?.reader.event('client-typing')]);
    expect(used() - before).toBe(2);

    const join = async (userId: string): Promise<FrameReader> => {
      const s = await rawConnect(t);
      const channelData = JSON.stringify({ user_id: userId });
      const auth = t.sdk().authorizeChannel(s.socketId, 'presence-room', { user_id: userId }).auth;
      s.reader.send({ event: 'pusher:subscribe', data: { channel: 'presence-room', auth, channel_data: channelData } });
      await s.reader.event('pusher_internal:subscription_succeeded');
      return s.reader;
    };
    before = used();
    const u1 = await join('u1');
    expect(used() - before).toBe(0); // nobody else to tell
    const u2 = await join('u2');
    await u1.event('pusher_internal:member_added');
    const u3 = await join('u3');
    await Promise.all([u1.event('pusher_internal:member_added'), u2.event('pusher_internal:member_added')]);
    expect(used() - before).toBe(1 + 2);
    before = used();
    u3.ws.close();
    await Promise.all([u1.event('pusher_internal:member_removed'), u2.event('pusher_internal:member_removed')]);
    expect(used() - before).toBe(2);
  });

  it('rolls over at 00:00 UTC on the injected clock', async () => {
    let offset = 0;
    const now = (): number => Date.now() + offset;
    const midnight = (utcDay(Date.now()) + 1) * DAY_MS;
    offset = midnight - 2000 - Date.now(); // 23:59:58 UTC
    const t = await serve({ maxMessagesPerDay: 2 }, {}, now);
    expect((await publish(t, 'c', now())).status).toBe(200);
    expect((await publish(t, 'c', now())).status).toBe(200);
    const over = await publish(t, 'c', now());
    expect(over.status).toBe(403);
    expect(await over.text()).toContain(`resets at ${new Date(midnight).toISOString()}`);
    offset = midnight + 1 - Date.now(); // 00:00:00.001 UTC
    const fresh = await publish(t, 'c', now());
    expect(fresh.status).toBe(200);
    expect(fresh.headers.get('x-herald-quota-remaining')).toBe('1');
  });

  it('keeps the count across a restart on the same state directory, and `herald usage` shows it', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'herald-restart-'));
    dirs.push(stateDir);
    const first = await serve({ maxMessagesPerDay: 4 }, { stateDir });
    await subscribers(first, 'r', 1);
    expect((await publish(first, 'r')).status).toBe(200); // 1 + 1 delivery
    expect(first.server.meter.used(APP.id)).toBe(2);
    await first.close();
    servers.splice(servers.indexOf(first), 1);

    const second = await serve({ maxMessagesPerDay: 4 }, { stateDir });
    expect(second.server.meter.used(APP.id)).toBe(2);
    expect((await publish(second, 'r')).status).toBe(200);
    expect((await publish(second, 'r')).status).toBe(200);
    expect((await publish(second, 'r')).status).toBe(403); // no fresh quota after the restart
    await second.close();
    servers.splice(servers.indexOf(second), 1);

    const report = await usageCommand(second.config, Date.now(), false);
    expect(report).toMatch(new RegExp(`${APP.id}\\s+${APP.id}\\s+4\\s+4\\s+100\\.0%\\s+0`));
    const json = JSON.parse(await usageCommand(second.config, Date.now(), true)) as { apps: Array<{ id: string; used: number }> };
    expect(json.apps).toEqual([{ id: APP.id, name: APP.id, used: 4, limit: 4, remaining: 0 }]);
  });
});
