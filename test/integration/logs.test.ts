/**
 * Structured logs from the real CLI across a session with auth failures, REST errors, a
 * connection closed with an error code, a reload that rotates a secret, a refused reload of a
 * file whose JSON syntax error sits next to a secret, and a SIGTERM: every line is JSON, the
 * promised lines are there with app id and socket id, and no line contains any app secret.
 */
import { createHash, createHmac } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Pusher from 'pusher';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHerald, writeConfig, type HeraldProcess, type LogLine } from '../helpers/herald-process.js';
import { FrameReader } from '../helpers/server.js';

const SECRET_1 = 'logsecret-first-4c7d9e';
const SECRET_2 = 'logsecret-rotated-81b2f0';
const SECRET_3 = 'Zq9xK2w'; // short, so V8's JSON error snippet would quote all of it
const STRICT_SECRET = 'logsecret-strict-app-5e6f';
const APP = { id: 'log-app', key: 'log-key', secret: SECRET_1 };
const STRICT = { id: 'strict-app', key: 'strict-key', secret: STRICT_SECRET, requireAuthorizedConnections: true, authorizedConnectionTimeoutSec: 1 };

const dir = mkdtempSync(join(tmpdir(), 'herald-logs-'));
const file = join(dir, 'herald.json');
const base = { port: 0, metricsPort: 0, logLevel: 'debug', pongTimeoutSec: 1, stateDir: join(dir, 'state') }; // pongTimeoutSec 1: the liveness sweep (and the 4009 deadline) runs every 250 ms
let h: HeraldProcess;

beforeAll(async () => {
  writeConfig(file, { ...base, apps: [APP, STRICT] });
  h = await startHerald(file);
}, 60_000);
afterAll(() => {
  h?.child.kill('SIGKILL');
});

async function socket(key: string): Promise<{ reader: FrameReader; socketId: string }> {
  const reader = new FrameReader(new WebSocket(`ws://127.0.0.1:${h.port}/app/${key}?protocol=7`));
  const est = await reader.event('pusher:connection_established');
  return { reader, socketId: (JSON.parse(est.data as string) as { socket_id: string }).socket_id };
}

function sdk(secret: string): Pusher {
  return new Pusher({ appId: APP.id, key: APP.key, secret, host: '127.0.0.1', port: String(h.port), useTLS: false });
}

/** A correctly signed POST with a body that is not JSON (a 400 the SDK cannot produce). */
function badBodyPost(secret: string): Promise<Response> {
  const path = `/apps/${APP.id}/events`;
  const body = '{not json';
  const q = new URLSearchParams({
    auth_key: APP.key,
    auth_timestamp: String(Math.floor(Date.now() / 1000)),
    auth_version: '1.0',
    body_md5: createHash('md5').update(body).digest('hex'),
  });
  const sorted = [...q.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${v}`).join('&');
  q.set('auth_signature', createHmac('sha256', secret).update(`POST\n${path}\n${sorted}`).digest('hex'));
  return fetch(`http://127.0.0.1:${h.port}${path}?${q.toString()}`, { method: 'POST', body });
}

describe('logs', () => {
  it('are JSON lines with the promised context and never contain a secret', async () => {
    const find = (msg: string, extra: (l: LogLine) => boolean = () => true): LogLine | undefined =>
      h.logs.find((l) => l.msg === msg && extra(l));

    const start = find('herald listening');
    expect(start).toMatchObject({ port: h.port, apps: ['log-app', 'strict-app'], adapter: 'local', tls: false });
    expect(String(start?.version)).toMatch(/^\d+\.\d+\.\d+/);

    // Auth failures on a connection: channel auth and sign-in.
    const { reader, socketId } = await socket(APP.key);
    reader.send({ event: 'pusher:subscribe', data: { channel: 'private-a', auth: `${APP.key}:${'0'.repeat(64)}` } });
    await reader.event('pusher:subscription_error');
    reader.send({ event: 'pusher:signin', data: { auth: `${APP.key}:${'1'.repeat(64)}`, user_data: '{"id":"u1"}' } });
    await reader.event('pusher:error');
    await h.waitLog((l) => l.msg === 'authentication failed' && l.kind === 'channel' && l.socket === socketId && l.app === APP.id, 'channel auth failure');
    await h.waitLog((l) => l.msg === 'authentication failed' && l.kind === 'signin' && l.socket === socketId, 'signin failure');

    // A connection closed by the server with an error code (4009: never authorized).
    const strict = await socket(STRICT.key);
    expect((await strict.reader.waitClose()).code).toBe(4009);
    await h.waitLog(
      (l) => l.msg === 'connection closed with an error code' && l.code === 4009 && l.socket === strict.socketId && l.app === STRICT.id,
      '4009 line',
    );

    // REST errors: bad signature, bad body, unknown app.
    await expect(sdk('not-the-secret').trigger('c', 'e', {})).rejects.toMatchObject({ status: 401 });
    expect((await badBodyPost(SECRET_1)).status).toBe(400);
    expect((await fetch(`http://127.0.0.1:${h.port}/apps/nope/channels?auth_key=x&q=SECRET-LOOKING-QUERY`)).status).toBe(401);
    for (const status of [401, 400]) await h.waitLog((l) => l.msg === 'rest request refused' && l.status === status && l.app === APP.id, `REST ${status}`);
    // An unauthenticated caller's request text (path, query) is never logged, and an unknown app id is not named.
    await h.waitLog((l) => l.msg === 'rest request refused' && l.status === 401 && l.problem === 'unknown_key' && l.app === undefined, 'REST 401 unknown app');

    // A reload that rotates the secret, then a refused one whose syntax error is next to a secret.
    writeConfig(file, { ...base, apps: [{ ...APP, secret: SECRET_2 }, STRICT] });
    let from = h.logs.length;
    process.kill(h.child.pid as number, 'SIGHUP');
    await h.waitLog((l) => l.msg === 'config reloaded', 'config reloaded', from);
    writeConfig(file, `{"apps": [{"id": "log-app", "key": "log-key", "secret": ${SECRET_3}}]}`);
    from = h.logs.length;
    process.kill(h.child.pid as number, 'SIGHUP');
    const refused = await h.waitLog((l) => l.msg === 'config reload refused; the running config stays in force', 'refused', from);
    expect(String(refused.reason)).toMatch(/is not valid JSON/);
    await sdk(SECRET_2).trigger('c', 'e', {}); // still serving the rotated config
    reader.ws.close();

    from = h.logs.length;
    h.child.kill('SIGTERM');
    expect((await h.exited).code).toBe(0);
    expect(h.logs.slice(from).map((l) => l.msg)).toEqual(expect.arrayContaining(['shutting down', 'draining: readiness is now false', 'stopped']));

    for (const line of h.stdout) {
      const parsed = JSON.parse(line) as LogLine;
      expect(typeof parsed.level).toBe('number');
      expect(typeof parsed.time).toBe('number');
      expect(typeof parsed.msg).toBe('string');
    }
    const everything = [...h.stdout, ...h.stderr].join('\n');
    expect(everything).not.toContain('SECRET-LOOKING-QUERY');
    for (const secret of [SECRET_1, SECRET_2, SECRET_3, STRICT_SECRET]) expect(everything).not.toContain(secret);
    expect(h.stderr.join('\n')).toBe('');
    expect(h.stdout.length).toBeGreaterThan(10);
  }, 30_000);
});
