/**
 * The command line as a user meets it: app creation writes an entry the server accepts, bad
 * configs stop startup with a message naming the problem, the uWS pure-JS fallback is
 * refused unless explicitly allowed, and `config print` / `config schema` show the effective
 * config (secrets masked) and the schema the file is checked against.
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

    const config = parseConfig({ ...raw, stateDir: join(dir, 'created-state') }, file); // never the checkout's .herald-state
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

    const env = { UWS_USE_FALLBACK: '1', HERALD_ALLOW_UWS_FALLBACK: '1', HERALD_PORT: '0', HERALD_METRICS_PORT: '0', HERALD_STATE_DIR: join(dir, 'fallback-state') };
    const child = spawnCli(['start'], env);
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

describe('herald config', () => {
  const secret = 'Qj7wXv3KpL9mZt2RbY6n';

  it('print: the effective config with defaults and environment overrides, secrets masked', () => {
    const file = join(dir, 'print.json');
    writeFileSync(file, JSON.stringify({ port: 7000, apps: [{ id: 'a', key: 'k', secret, limits: { maxConnections: 5 } }] }));
    const r = runCli(['config', 'print', '--config', file], { HERALD_LOG_LEVEL: 'warn', HERALD_PORT: '' });
    expect(r.status).toBe(0);
    const printed = JSON.parse(r.stdout) as ReturnType<typeof parseConfig>;
    expect(printed.port).toBe(7000);
    expect(printed.logLevel).toBe('warn');
    expect(printed.apps[0]).toMatchObject({ id: 'a', key: 'k', name: 'a', secret: '****', limits: { maxConnections: 5, maxPayloadBytes: 10_240 } });
    expect(printed.adapter.driver).toBe('local');
    for (let i = 0; i + 4 <= secret.length; i++) expect(r.stdout).not.toContain(secret.slice(i, i + 4));
  });

  it('print: a bad config is refused as `start` would refuse it, naming the file and key', () => {
    const file = join(dir, 'print-bad.json');
    writeFileSync(file, JSON.stringify({ apps: [{ id: 'a', key: 'k', secret, limits: { maxConections: 5 } }] }));
    const r = runCli(['config', 'print', '--config', file]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`herald: ${file}: "apps[0].limits.maxConections" is not a known setting`);
    expect(r.stdout).toBe('');
  });

  it('schema: the JSON Schema of the file, strict at every level, with its defaults', () => {
    const r = runCli(['config', 'schema']);
    expect(r.status).toBe(0);
    type Level = { type?: string; properties: Record<string, Level & { default?: unknown; items?: Level }>; additionalProperties?: boolean; required?: string[] };
    const schema = JSON.parse(r.stdout) as Level & { $schema: string };
    expect(schema.$schema).toMatch(/json-schema\.org/);
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required).toEqual(['apps']);
    expect(schema.properties.port).toMatchObject({ type: 'integer', default: 6001, minimum: 0, maximum: 65_535 });
    const app = schema.properties.apps?.items as Level;
    expect(app.additionalProperties).toBe(false);
    expect(app.properties.limits?.properties.maxChannelsPerConnection).toMatchObject({ default: 100, minimum: 1, maximum: 100_000 });
    const config = parseConfig({ apps: [{ id: 'a', key: 'k', secret }] }, 'x');
    expect(Object.keys(schema.properties).sort()).toEqual([...Object.keys(config), 'tls'].sort());
  });

  it('lists both commands in the usage text', () => {
    const r = runCli(['--help']);
    expect(r.stdout).toContain('herald config print [--config FILE]');
    expect(r.stdout).toContain('herald config schema');
  });
});
