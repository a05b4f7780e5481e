/**
 * Config validation: unknown keys, duplicate ids/keys, empty secrets and bad types stop
 * startup with a message naming the file and the key; defaults and env overrides apply.
 */
import { describe, expect, it } from 'vitest';
import { DEV_APP, loadConfig, parseConfig } from '../../src/config/config.js';
import { ConfigError } from '../../src/config/schema.js';

const app = { id: 'a1', key: 'k1', secret: 'secret-s1-xxxxxx' };

function problem(raw: unknown): string {
  try {
    parseConfig(raw, 'herald.json');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('config was accepted');
}

describe('config validation', () => {
  it('rejects an unknown key, naming the file and the path', () => {
    expect(problem({ apps: [app], prot: 1 })).toMatch(/^herald\.json: "prot" is not a known setting/);
    expect(problem({ apps: [{ ...app, limits: { maxConections: 5 } }] })).toMatch(/"apps\[0\]\.limits\.maxConections" is not a known setting/);
  });

  it('rejects duplicate ids and keys', () => {
    expect(problem({ apps: [app, { ...app, key: 'k2' }] })).toMatch(/"apps\[1\]\.id" duplicates apps\[0\]\.id "a1"/);
    expect(problem({ apps: [app, { ...app, id: 'a2' }] })).toMatch(/"apps\[1\]\.key" duplicates apps\[0\]\.key "k1"/);
  });

  it('rejects a missing or empty secret, a missing key and wrong types', () => {
    expect(problem({ apps: [{ ...app, secret: '' }] })).toMatch(/"apps\[0\]\.secret" must not be empty/);
    expect(problem({ apps: [{ id: 'a', secret: 'secret-s-xxxxxxx' }] })).toMatch(/"apps\[0\]\.key" is required/);
    expect(problem({ apps: [app], port: '6001' })).toMatch(/"port" must be a whole number/);
    expect(problem({ apps: [] })).toMatch(/"apps" must list at least one app/);
  });

  it('fills defaults, freezes the result and applies environment overrides', () => {
    const cfg = parseConfig({ apps: [app] }, 'x', { HERALD_PORT: '7001', HERALD_LOG_LEVEL: 'warn' });
    expect(cfg.port).toBe(7001);
    expect(cfg.logLevel).toBe('warn');
    expect(cfg.apps[0]?.limits.maxPayloadBytes).toBe(10_240);
    expect(cfg.apps[0]?.name).toBe('a1');
    expect(Object.isFrozen(cfg.apps[0]?.limits)).toBe(true);
    expect(() => parseConfig({ apps: [app] }, 'x', { HERALD_PORT: 'abc' })).toThrow(/HERALD_PORT.*whole number/);
  });

  it('serves the public development app when no file is given', () => {
    const { config, file } = loadConfig(undefined, {});
    expect(file).toBeUndefined();
    expect(config.apps).toHaveLength(1);
    expect(config.apps[0]).toMatchObject({ id: DEV_APP.id, key: DEV_APP.key, secret: DEV_APP.secret });
    expect(config.port).toBe(6001);
    expect(config.host).toBe('127.0.0.1');
  });

  it('reports an unreadable or non-JSON file by name', () => {
    expect(() => loadConfig('/nonexistent/herald.json', {})).toThrow(/\/nonexistent\/herald\.json: cannot be read/);
  });
});
