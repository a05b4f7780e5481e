/**
 * `herald import soketi|reverb` against config files in soketi's (dotted-key JSON, SOKETI_*
 * variables) and Laravel Reverb's (.env) documented formats: what is carried over, what is listed
 * as not carried over, that short secrets are refused, and that no secret is ever printed.
 */
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/config.js';
import { importCommand } from '../../src/migrate/command.js';
import { parseEnvText } from '../../src/migrate/env-file.js';
import { importReverb } from '../../src/migrate/reverb.js';
import { importSoketi } from '../../src/migrate/soketi.js';

const FIX = 'test/fixtures/migrate';
const fixture = (name: string) => join(FIX, name);
const soketiFile = () => JSON.parse(readFileSync(fixture('soketi.json'), 'utf8')) as unknown;

function run(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const lines: string[] = [];
  const code = importCommand(argv, env, (l) => lines.push(l));
  return { code, output: lines.join('\n') };
}

const tmpOut = () => join(mkdtempSync(join(tmpdir(), 'herald-import-')), 'herald.json');

describe('import soketi', () => {
  it('carries over server settings, apps, limits and webhooks', () => {
    const { config } = importSoketi(soketiFile(), parseEnvText(readFileSync(fixture('soketi.env'), 'utf8')).vars);
    const parsed = parseConfig(config, 'imported');
    expect(parsed).toMatchObject({ host: '0.0.0.0', port: 6002, logLevel: 'debug', metricsPort: 9700, webhookBatchMs: 100, shutdownGraceSec: 5 });
    expect(parsed.adapter).toMatchObject({ driver: 'redis', redisUrl: 'redis://:redis-pass-word@redis.internal:6380', keyPrefix: 'chat' });
    const [chat, dash] = parsed.apps;
    expect(chat).toMatchObject({ id: 'chat-app', key: 'chat-key', enableClientEvents: true, requireAuthorizedConnections: true });
    expect(chat?.limits).toMatchObject({
      maxConnections: 500,
      maxClientEventsPerSec: 5,
      maxRestRequestsPerSec: 300,
      maxPresenceUserInfoBytes: 2048,
      maxEventNameLength: 150,
      maxBatchSize: 20,
      maxPayloadBytes: 20 * 1024,
      maxChannelsPerTrigger: 50,
      maxPresenceMembers: 200,
    });
    expect(chat?.webhooks).toEqual([
      { url: 'https://backend.example.com/pusher/webhooks', events: ['channel_occupied', 'channel_vacated', 'member_added'], filterPrefix: 'presence-', headers: { 'X-Team': 'chat' } },
    ]);
    expect(dash).toMatchObject({ id: 'dash-app', enableClientEvents: false });
    expect(dash?.limits.maxConnections).toBe(10_000); // soketi's -1 (no limit) keeps Herald's finite default
  });

  it('lists every setting it could not carry over, with a reason', () => {
    const t = importSoketi(soketiFile(), parseEnvText(readFileSync(fixture('soketi.env'), 'utf8')).vars);
    const names = t.unmapped.map((u) => u.setting);
    expect(names).toEqual(
      expect.arrayContaining([
        'rateLimiter.driver',
        'metrics.prometheus.prefix',
        'queue.driver',
        'SOKETI_SHINY_NEW_THING',
        'appManager.array.apps[0].webhooks[0].filter.channel_name_ends_with',
        'appManager.array.apps[0].webhooks[1].lambda_function',
        'appManager.array.apps[0].webhooks[1]',
        'appManager.array.apps[1].maxBackendEventsPerSecond',
      ]),
    );
    for (const u of t.unmapped) expect(u.reason.length).toBeGreaterThan(10);
    expect(t.notes.join('\n')).toMatch(/dash-app|apps\[1\]\.maxConnections is -1/);
  });

  it('environment variables override the file, as in soketi', () => {
    const t = importSoketi({ port: 6001 }, { SOKETI_PORT: '7000', SOKETI_DEFAULT_APP_ID: 'env-app', SOKETI_DEFAULT_APP_KEY: 'env-key', SOKETI_DEFAULT_APP_SECRET: 'env-secret-0123456789', SOKETI_DEFAULT_APP_ENABLE_CLIENT_MESSAGES: 'true', SOKETI_DEFAULT_APP_MAX_CONNS: '50' });
    const parsed = parseConfig(t.config, 'imported');
    expect(parsed.port).toBe(7000);
    expect(parsed.apps[0]).toMatchObject({ id: 'env-app', key: 'env-key', enableClientEvents: true, limits: { maxConnections: 50 } });
  });

  it('writes a valid config with mode 0600 and prints no secret', () => {
    const out = tmpOut();
    const { code, output } = run(['soketi', '--from', fixture('soketi.json'), '--env-file', fixture('soketi.env'), '--out', out]);
    expect(code).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(parseConfig(JSON.parse(readFileSync(out, 'utf8')), out).apps).toHaveLength(2);
    expect(output).toMatch(/Not carried over \(\d+\):/);
    expect(output).toMatch(/rateLimiter\.driver: /);
    for (const secret of ['chat-secret-0123456789abcdef', 'dash-secret', 'redis-pass-word']) expect(output).not.toContain(secret);
  });

  it('refuses a secret shorter than 16 characters and writes nothing', () => {
    const out = tmpOut();
    const { code, output } = run(['soketi', '--from', fixture('soketi-short-secret.json'), '--out', out]);
    expect(code).toBe(1);
    expect(output).toMatch(/refuses secrets shorter than 16 characters: app "legacy" \(10 characters\)/);
    expect(output).not.toContain('legacy-sec');
    expect(() => statSync(out)).toThrow();
  });

  it('refuses soketi\'s SQL app managers, naming the driver', () => {
    const { code, output } = run(['soketi', '--from', fixture('soketi-mysql.json'), '--out', tmpOut()]);
    expect(code).toBe(1);
    expect(output).toMatch(/"mysql" app manager, which Herald cannot read/);
  });

  it('never overwrites an existing file', () => {
    const out = tmpOut();
    writeFileSync(out, '{}');
    const { code, output } = run(['soketi', '--from', fixture('soketi.json'), '--out', out]);
    expect(code).toBe(1);
    expect(output).toMatch(/already exists/);
    expect(readFileSync(out, 'utf8')).toBe('{}');
  });
});

describe('import reverb', () => {
  it('carries over the app, listen address, scaling and sizes from a Laravel .env', () => {
    const out = tmpOut();
    const { code, output } = run(['reverb', '--env-file', fixture('reverb.env'), '--out', out]);
    expect(code).toBe(0);
    const parsed = parseConfig(JSON.parse(readFileSync(out, 'utf8')), out);
    expect(parsed).toMatchObject({ host: '0.0.0.0', port: 8080, maxFrameBytes: 20_000 });
    expect(parsed.adapter).toMatchObject({ driver: 'redis', redisUrl: 'redis://10.0.0.5:6379' });
    expect(parsed.apps[0]).toMatchObject({ id: '482913', key: 'k7pqz3mvn1xw8yt2', secret: 'tq9v2m4lp8xk1z6nb3cw7rd5', enableClientEvents: true });
    expect(output).toMatch(/REVERB_ALLOWED_ORIGINS: Herald does not check the Origin header/);
    expect(output).toMatch(/REVERB_APP_RATE_LIMITING_ENABLED: /);
    expect(output).toMatch(/REVERB_HOST: /);
    expect(output).toMatch(/options\.tls/);
    expect(output).not.toContain('tq9v2m4lp8xk1z6nb3cw7rd5');
  });

  it('uses Reverb\'s defaults where the .env is silent', () => {
    const t = importReverb({ REVERB_APP_ID: 'a', REVERB_APP_KEY: 'k', REVERB_APP_SECRET: 'a-secret-of-16-chars', REVERB_APP_ACCEPT_CLIENT_EVENTS_FROM: 'none' });
    const parsed = parseConfig(t.config, 'imported');
    expect(parsed).toMatchObject({ host: '127.0.0.1', port: 8080 });
    expect(parsed.apps[0]?.enableClientEvents).toBe(false);
    expect(t.notes.join('\n')).toMatch(/0\.0\.0\.0 by default/);
  });

  it('refuses a short secret', () => {
    const out = tmpOut();
    const { code, output } = run(['reverb', '--env-file', fixture('reverb-short-secret.env'), '--out', out]);
    expect(code).toBe(1);
    expect(output).toMatch(/app "local" \(12 characters\)/);
    expect(output).not.toContain('local-secret');
  });
});

describe('.env reading', () => {
  it('reads quotes, comments, export and ${VAR} references', () => {
    const { vars, skipped } = parseEnvText('# c\nexport A=1\nB="x y" \nC=\'${A}\'\nD="${A}-2"\nE=plain # comment\nnot an assignment\n');
    expect(vars).toEqual({ A: '1', B: 'x y', C: '${A}', D: '1-2', E: 'plain' });
    expect(skipped).toEqual([7]);
  });
});
