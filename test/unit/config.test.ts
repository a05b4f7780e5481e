/**
 * Config validation: unknown keys, duplicate ids/keys, empty secrets and bad types stop
 * startup with a message naming the file and the key; defaults and env overrides apply. The
 * JSON Schema and the masked print come from the same schema and agree with what it accepts.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { DEV_APP, loadConfig, parseConfig } from '../../src/config/config.js';
import { configJsonSchema, MASK, maskedConfig } from '../../src/config/print.js';
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

  it('treats null as unset and reports a wrong type without quoting the value', () => {
    const cfg = parseConfig({ apps: [{ ...app, limits: null, webhooks: null }], port: null, tls: null }, 'x');
    expect(cfg.port).toBe(6001);
    expect(cfg.tls).toBeUndefined();
    expect(cfg.apps[0]?.limits.maxConnections).toBe(10_000);
    expect(problem({ apps: [{ ...app, secret: null }] })).toMatch(/"apps\[0\]\.secret" is required/);
    expect(problem({ apps: [{ ...app, secret: ['secret-s1-xxxxxx'] }] })).toBe('herald.json: "apps[0].secret" must be a string');
  });

  it('reports problems in file order, an unknown key before the other problems in its object', () => {
    expect(problem({ apps: [app], port: 'x', zz: 1 })).toMatch(/^herald\.json: "zz" is not a known setting/);
    expect(problem({ apps: [{ ...app, colour: 1, id: '' }], port: 70000 })).toBe('herald.json: "port" must be ≤ 65535');
    expect(problem({ apps: [{ ...app, id: '', colour: 1 }] })).toMatch(/^herald\.json: "apps\[0\]\.colour" is not a known setting \(known here: id, key, secret/);
    expect(problem({ apps: [{ ...app, id: '' }] })).toBe('herald.json: "apps[0].id" must not be empty');
    expect(problem({ apps: [app], logLevel: 'loud' })).toBe('herald.json: "logLevel" must be one of fatal, error, warn, info, debug, trace, silent');
    const hook = { url: 'https://example.com/h', events: ['channel_occupied', 'bogus'] };
    expect(problem({ apps: [{ ...app, webhooks: [hook] }] })).toMatch(/"apps\[0\]\.webhooks\[0\]\.events" has "bogus"; allowed: channel_occupied,/);
    expect(problem({ apps: [app], trustedProxies: ['10.0.0.1', 7] })).toBe('herald.json: "trustedProxies" must be a list of strings');
  });

  // A parsed record cannot keep a key named "__proto__" (assigning it replaces the prototype), so
  // such a webhook header would vanish silently; it is refused by name instead.
  it('refuses a webhook header named __proto__ instead of dropping it', () => {
    const headers = JSON.parse('{"__proto__": "x", "X-A": "b"}') as Record<string, string>;
    expect(problem({ apps: [{ ...app, webhooks: [{ url: 'https://example.com/h', headers }] }] })).toMatch(/"apps\[0\]\.webhooks\[0\]\.headers" must not name a header "__proto__"/);
  });

  it('types logLevel as the levels it accepts', () => {
    expectTypeOf(parseConfig({ apps: [app] }, 'x').logLevel).toEqualTypeOf<'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'>();
  });
});

describe('config schema export and print', () => {
  type JsonSchema = { properties: Record<string, JsonSchema & { default?: unknown }>; items?: JsonSchema; additionalProperties?: boolean; required?: string[] };
  const schema = configJsonSchema() as unknown as JsonSchema;
  const appSchema = schema.properties.apps?.items as JsonSchema;

  it('gives the defaults parseConfig fills, at every level', () => {
    const cfg = parseConfig({ apps: [app] }, 'x');
    const levels: Array<[JsonSchema, object]> = [
      [schema, cfg],
      [appSchema, cfg.apps[0] as object],
      [appSchema.properties.limits as JsonSchema, cfg.apps[0]?.limits as object],
      [schema.properties.adapter as JsonSchema, cfg.adapter],
    ];
    for (const [level, parsed] of levels) {
      expect(level.additionalProperties).toBe(false);
      for (const [key, prop] of Object.entries(level.properties)) {
        if (prop.default !== undefined && key !== 'name' && key !== 'limits' && key !== 'adapter') expect([key, (parsed as Record<string, unknown>)[key]]).toStrictEqual([key, prop.default]);
      }
    }
    expect(Object.keys(schema.properties).sort()).toEqual([...Object.keys(cfg), 'tls'].sort());
    expect(schema.required).toEqual(['apps']);
    expect(appSchema.required).toEqual(['id', 'key', 'secret']);
  });

  it('masks every app secret, webhook header value and URL password', () => {
    const secret = 'Qj7wXv3KpL9mZt2RbY6n';
    const cfg = parseConfig(
      {
        apps: [{ ...app, secret, webhooks: [{ url: 'https://hook:Hp4ssw0rdZ@example.com/h', headers: { Authorization: 'Bearer Tk9zQ' } }] }],
        adapter: { redisUrl: 'redis://:Rp4ssw0rdY@10.0.0.5:6379/0' },
      },
      'x',
    );
    const printed = JSON.stringify(maskedConfig(cfg));
    for (const hidden of [secret, 'Hp4ssw0rdZ', 'Tk9zQ', 'Rp4ssw0rdY']) {
      for (let i = 0; i + 4 <= hidden.length; i++) expect(printed).not.toContain(hidden.slice(i, i + 4));
    }
    const masked = maskedConfig(cfg);
    expect(masked.apps[0]?.secret).toBe(MASK);
    expect(masked.apps[0]?.webhooks[0]).toMatchObject({ url: `https://hook:${MASK}@example.com/h`, headers: { Authorization: MASK } });
    expect(masked.adapter.redisUrl).toBe(`redis://:${MASK}@10.0.0.5:6379/0`);
    expect(masked.apps[0]?.key).toBe(app.key);
  });
});
