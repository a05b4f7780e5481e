/**
 * The command line as a user meets it: app creation writes an entry the server accepts, bad
 * configs stop startup with a message naming the problem, and the uWS pure-JS fallback is
 * refused unless explicitly allowed.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { once } from '../helpers/server.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { parseConfig } from '../../src/config/config.js';
import { HeraldServer } from '../../src/server.js';
import { pino } from 'pino';
import Pusher from 'pusher';

const dir = mkdtempSync(join(tmpdir(), 'herald-cli-'));
const servers: HeraldServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
});

describe('herald app create', () => {
  it('adds an app with random credentials that a server accepts and serves', async () => {
    const file = join(dir, 'created.json');
    writeFileSync(file, JSON.stringify({ port: 0, metricsEnabled: false }));
    const r1 = runCli(['app', 'create', '--config', file, '--name', 'shop']);
    expect(r1.status).toBe(0);
    const r2 = runCli(['app', 'create', '--config', file]);
    expect(r2.status).toBe(0);
    const raw = JSON.parse(readFileSync(file, 'utf8')) as { apps: Array<{ id: string; key: string; secret: string; name: string }> };
    expect(raw.apps).toHaveLength(2);
    const [a, b] = raw.apps as [typeof raw.apps[0], typeof raw.apps[0]];
    expect(a.name).toBe('shop');
    expect(a.key).not.toBe(b.key);
    expect(a.secret).not.toBe(b.secret);
    expect(a.secret.length).toBeGreaterThanOrEqual(32);

    const config = parseConfig(raw, file);
    const server = await HeraldServer.start({ config, logger: pino({ level: 'silent' }) });
    servers.push(server);
    const sdk = new Pusher({ appId: a.id, key: a.key, secret: a.secret, host: '127.0.0.1', port: String(server.port), useTLS: false });
    const res = await sdk.trigger('c', 'e', 'x');
    expect(res.status).toBe(200);
  });

  it('prints an entry when no config is given', () => {
    const r = runCli(['app', 'create']);
    expect(r.status).toBe(0);
    const entry = JSON.parse(r.stdout) as Record<string, string>;
    expect(Object.keys(entry).sort()).toEqual(['id', 'key', 'name', 'secret']);
  });
});

describe('herald start refuses bad setups', () => {
  it.each([
    [{ apps: [{ id: 'a', key: 'k', secret: 'secret-s-xxxxxxx', colour: 'red' }] }, /"apps\[0\]\.colour" is not a known setting/],
    [{ apps: [{ id: 'a', key: 'k', secret: 'secret-s-xxxxxxx' }, { id: 'b', key: 'k', secret: 'secret-t-xxxxxxx' }] }, /"apps\[1\]\.key" duplicates apps\[0\]\.key "k"/],
    [{ apps: [{ id: 'a', key: 'k', secret: '' }] }, /"apps\[0\]\.secret" must not be empty/],
  ])('config %#', (raw, message) => {
    const file = join(dir, `bad-${Math.random()}.json`);
    writeFileSync(file, JSON.stringify(raw));
    const r = runCli(['start', '--config', file]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(file);
    expect(r.stderr).toMatch(message);
  });

  it('refuses the pure-JS uWS fallback unless allowed', async () => {
    const r = runCli(['start'], { UWS_USE_FALLBACK: '1', HERALD_PORT: '0', HERALD_METRICS_PORT: '0' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/native binary did not load.*Refusing to start/);

    const child = spawnCli(['start'], { UWS_USE_FALLBACK: '1', HERALD_ALLOW_UWS_FALLBACK: '1', HERALD_PORT: '0', HERALD_METRICS_PORT: '0' });
    let out = '';
    const listening = once<void>((cb) => child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('herald listening')) cb();
    }), 'fallback server to start', 10_000);
    await listening;
    expect(out).toMatch(/allowUwsFallback is set/);
    child.kill('SIGTERM');
    await once((cb) => child.on('exit', cb), 'child exit', 10_000);
  });
});
