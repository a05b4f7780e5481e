/**
 * Fuzzes configuration and state-file loading:
 *  - parseConfig (src/config/config.ts) with arbitrary JSON values, arbitrary environment
 *    overrides, random mutations of a valid config (wrong types, deleted fields, nested junk,
 *    extra keys) and unknown keys at every level (including names Object.prototype has);
 *  - decodeUsage / encodeUsage / readUsageFile (src/quota/usage-file.ts) and usageReport
 *    (src/quota/report.ts) with arbitrary text, usage-shaped JSON with fuzzed fields and real
 *    files (missing, directories, arbitrary content);
 *  - loadState / saveState / quarantine (src/webhooks/store.ts) and writeFileAtomic
 *    (src/state/atomic-file.ts) with arbitrary file content and valid saved state.
 * Invariants:
 *  - parseConfig returns a deep-frozen, sane config (apps present, secrets ≥ 16 characters,
 *    unique ids and keys) that parses again to itself from its JSON, or throws ConfigError,
 *    never another error; an unknown key anywhere is refused with ConfigError (schema.ts: every
 *    object is strict, unknown keys are an error naming their path);
 *  - decodeUsage returns a snapshot of whole non-negative counts for a calendar day or throws
 *    UsageFileError, nothing else; encode→decode gives back every count of every valid app id;
 *    readUsageFile answers undefined for a missing file and otherwise as decodeUsage (or a
 *    UsageFileError); a report can be built and formatted from anything it decodes;
 *  - loadState returns well-formed entries (kept + skipped = listed) or throws an Error
 *    (documented: unreadable, non-JSON or wrong version), and never throws for a version 1
 *    object; saveState→loadState gives back what was saved; a state file loadState refuses
 *    can be quarantined (moved aside intact), as the dispatcher does;
 *  - writeFileAtomic then reading gives back the text.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { MIN_SECRET_LENGTH, parseConfig, WEBHOOK_EVENT_TYPES, type HeraldConfig } from '../../src/config/config.js';
import { ADAPTER_SCHEMA, APP_SCHEMA, CONFIG_SCHEMA, ConfigError, LIMITS_SCHEMA, TLS_SCHEMA, WEBHOOK_SCHEMA } from '../../src/config/schema.js';
import { DAY_MS, dayString, type UsageSnapshot } from '../../src/quota/daily.js';
import { formatUsage, usageReport } from '../../src/quota/report.js';
import { decodeUsage, encodeUsage, readUsageFile, UsageFileError } from '../../src/quota/usage-file.js';
import { writeFileAtomic } from '../../src/state/atomic-file.js';
import { loadState, quarantine, saveState, STATE_VERSION, type StoredDelivery, type StoredHeld } from '../../src/webhooks/store.js';
import { check, checkAsync, timeout } from './runs.js';
import { CONFIG, RAW_CONFIG } from './world.js';

const dir = mkdtempSync(join(tmpdir(), 'herald-fuzz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function deepFrozen(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return true;
  return Object.isFrozen(v) && Object.values(v).every(deepFrozen);
}

/** What a config may be when parseConfig returns it. */
function sane(config: HeraldConfig): void {
  expect(deepFrozen(config)).toBe(true);
  expect(config.apps.length).toBeGreaterThan(0);
  expect(new Set(config.apps.map((a) => a.id)).size).toBe(config.apps.length);
  expect(new Set(config.apps.map((a) => a.key)).size).toBe(config.apps.length);
  for (const app of config.apps) {
    expect(app.secret.length).toBeGreaterThanOrEqual(MIN_SECRET_LENGTH);
    expect(app.name.length).toBeGreaterThan(0);
    for (const v of Object.values(app.limits)) expect(Number.isSafeInteger(v)).toBe(true);
  }
  // It is valid data: its own JSON parses to the same config.
  expect(parseConfig(JSON.parse(JSON.stringify(config)), 'again')).toStrictEqual(config);
}

/** parseConfig's contract: a sane config, or a ConfigError (anything else is a bug). */
function parseOrConfigError(raw: unknown, env: NodeJS.ProcessEnv = {}): HeraldConfig | ConfigError {
  let config: HeraldConfig;
  try {
    config = parseConfig(raw, 'fuzz', env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw new Error(`parseConfig threw ${String(err)} (not a ConfigError)`, { cause: err });
  }
  sane(config);
  return config;
}

/** A fresh copy of a valid config (with a webhook and TLS so those levels are fuzzed too). */
function validRaw(): Record<string, unknown> {
  const raw = JSON.parse(JSON.stringify(RAW_CONFIG)) as { apps: Array<Record<string, unknown>> } & Record<string, unknown>;
  (raw.apps[0] as Record<string, unknown>).webhooks = [{ url: 'https://example.com/hook', events: ['channel_occupied'], headers: { 'X-A': 'b' } }];
  raw.adapter = { driver: 'local' };
  raw.tls = { certFile: 'cert.pem', keyFile: 'key.pem' };
  raw.trustedProxies = ['10.0.0.0/8'];
  return raw;
}

/** Every object and array inside `v`, with the path to it. */
function containers(v: unknown, path: Array<string | number> = []): Array<{ path: Array<string | number>; value: object }> {
  if (typeof v !== 'object' || v === null) return [];
  const out: Array<{ path: Array<string | number>; value: object }> = [{ path, value: v }];
  const entries: Array<[string | number, unknown]> = Array.isArray(v) ? v.map((x, i) => [i, x]) : Object.entries(v);
  for (const [k, child] of entries) out.push(...containers(child, [...path, k]));
  return out;
}

/** Sets an own data property as JSON.parse would (even for "__proto__"). */
function define(target: object, key: string | number, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

const ENV_NAMES = ['HERALD_HOST', 'HERALD_PORT', 'HERALD_METRICS_HOST', 'HERALD_METRICS_PORT', 'HERALD_LOG_LEVEL', 'HERALD_STATE_DIR', 'HERALD_ALLOW_UWS_FALLBACK', 'HERALD_ALLOW_PUBLIC_DEV_APP'];
const envArb = fc.dictionary(fc.constantFrom(...ENV_NAMES), fc.oneof(fc.constantFrom('1', '0', 'true', 'no', '', '65535', '65536', 'debug', '-1', '1e3'), fc.string()), { maxKeys: 4 });
const PROTO_NAMES = ['__proto__', 'constructor', 'toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', '__defineGetter__'];
const keyArb = fc.oneof(fc.constantFrom(...PROTO_NAMES), fc.string());

type Mutation = { op: 'set'; at: number; key: number; value: unknown } | { op: 'delete'; at: number; key: number } | { op: 'add'; at: number; name: string; value: unknown } | { op: 'wrap'; at: number; key: number };
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), key: fc.nat(), value: fc.oneof(fc.jsonValue(), fc.integer(), fc.boolean(), fc.string(), fc.constant(null)) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), key: fc.nat() }),
  fc.record({ op: fc.constant('add' as const), at: fc.nat(), name: keyArb, value: fc.jsonValue({ maxDepth: 2 }) }),
  fc.record({ op: fc.constant('wrap' as const), at: fc.nat(), key: fc.nat() }),
);

function mutate(raw: Record<string, unknown>, m: Mutation): void {
  const all = containers(raw);
  const target = all[m.at % all.length]?.value as Record<string | number, unknown>;
  const keys: Array<string | number> = Array.isArray(target) ? target.map((_, i) => i) : Object.keys(target);
  if (m.op === 'add') {
    if (!Array.isArray(target)) define(target, m.name, m.value);
    return;
  }
  if (keys.length === 0) return;
  const key = keys[m.key % keys.length] as string | number;
  if (m.op === 'set') define(target, key, m.value);
  else if (m.op === 'delete') {
    if (Array.isArray(target)) target.splice(key as number, 1);
    else delete target[key];
  } else define(target, key, [target[key]]);
}

describe('parseConfig', () => {
  it('returns a sane frozen config or throws ConfigError for any JSON value and environment', () => {
    check(
      fc.property(fc.oneof(fc.jsonValue(), fc.record({ apps: fc.jsonValue() }), fc.record({ apps: fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 }) })), envArb, (raw, env) => {
        parseOrConfigError(raw, env);
      }),
    );
  }, timeout());

  it('returns a sane frozen config or throws ConfigError for mutations of a valid config', () => {
    check(
      fc.property(fc.array(mutationArb, { minLength: 1, maxLength: 4 }), envArb, (mutations, env) => {
        const raw = validRaw();
        for (const m of mutations) mutate(raw, m);
        parseOrConfigError(raw, env);
      }),
    );
  }, timeout());

  it('accepts the valid config untouched (the mutations start from a good one)', () => {
    const result = parseOrConfigError(validRaw());
    expect(result).not.toBeInstanceOf(ConfigError);
  });

  // Regression (found by this property, fixed in src): the hand-written validator that came
  // before the zod schema tested `key in schema`, which is true for names Object.prototype has,
  // so "__proto__", "constructor", "toString", "valueOf", … were silently accepted at every
  // level instead of being refused (fast-check's minimal case: top-level key "__proto__").
  it('refuses an unknown key at every level with ConfigError', () => {
    const levels: Array<{ name: string; known: object; at: (raw: Record<string, unknown>) => object }> = [
      { name: 'top', known: CONFIG_SCHEMA.shape, at: (r) => r },
      { name: 'apps[0]', known: APP_SCHEMA.shape, at: (r) => (r.apps as object[])[0] as object },
      { name: 'apps[0].limits', known: LIMITS_SCHEMA.shape, at: (r) => (r.apps as Array<{ limits: object }>)[0]?.limits as object },
      { name: 'apps[0].webhooks[0]', known: WEBHOOK_SCHEMA.shape, at: (r) => (r.apps as Array<{ webhooks: object[] }>)[0]?.webhooks[0] as object },
      { name: 'adapter', known: ADAPTER_SCHEMA.shape, at: (r) => r.adapter as object },
      { name: 'tls', known: TLS_SCHEMA.shape, at: (r) => r.tls as object },
    ];
    check(
      fc.property(fc.nat(levels.length - 1), keyArb, fc.jsonValue({ maxDepth: 1 }), (level, key, value) => {
        const { known, at } = levels[level] as (typeof levels)[number];
        fc.pre(!Object.hasOwn(known, key));
        const raw = validRaw();
        define(at(raw), key, value);
        const result = parseOrConfigError(raw);
        if (!(result instanceof ConfigError)) throw new Error(`unknown key ${JSON.stringify(key)} at ${levels[level]?.name} was accepted`);
        expect(result.message).toContain('is not a known setting');
      }),
    );
  }, timeout());
});

// ── usage file ───────────────────────────────────────────────────────────────────────

const ID_CHARS = 'abcxyzABZ019_-.'.split('');
/** App ids as the config allows them (/^[A-Za-z0-9_\-.]+$/), names Object.prototype has included. */
const appIdArb = fc.oneof({ weight: 6, arbitrary: fc.string({ unit: fc.constantFrom(...ID_CHARS), minLength: 1, maxLength: 12 }) }, fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty'));
const dayArb = fc.integer({ min: 0, max: 2_932_896 }); // 1970-01-01 … 9999-12-31
const snapshotArb: fc.Arbitrary<UsageSnapshot> = fc
  .tuple(dayArb, fc.uniqueArray(fc.tuple(appIdArb, fc.oneof(fc.nat(), fc.constant(Number.MAX_SAFE_INTEGER))), { selector: ([id]) => id, maxLength: 6 }))
  .map(([day, used]) => ({ day, used: new Map(used) }));
const dayStringArb = fc.oneof(
  dayArb.map(dayString),
  fc.constantFrom('2024-02-30', '2023-02-29', '0000-01-01', '9999-12-31', '2024-13-01', '2024-00-10', '1969-12-31', '+20000-01-01', '2024-1-1', ' 2024-01-01'),
  fc.string(),
);
const countArb = fc.oneof(fc.nat(), fc.constantFrom(-1, 1.5, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 1, 1e308), fc.jsonValue({ maxDepth: 1 }));
const usageJsonArb = fc.record(
  {
    version: fc.oneof({ weight: 4, arbitrary: fc.constant(1) }, fc.jsonValue({ maxDepth: 1 })),
    day: fc.oneof({ weight: 3, arbitrary: dayStringArb }, fc.jsonValue({ maxDepth: 1 })),
    savedAt: fc.jsonValue({ maxDepth: 1 }),
    apps: fc.oneof({ weight: 4, arbitrary: fc.dictionary(fc.oneof(appIdArb, fc.string()), countArb, { maxKeys: 5 }) }, fc.jsonValue({ maxDepth: 2 })),
  },
  { requiredKeys: [] },
);
const usageTextArb = fc.oneof(
  usageJsonArb.map((v) => JSON.stringify(v)),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.string(),
  fc.integer({ min: 1, max: 5000 }).map((n) => `{"version":1,"day":"2030-01-15","apps":${'['.repeat(n)}${']'.repeat(n)}}`),
);

function decodeOrUsageError(text: string): UsageSnapshot | UsageFileError {
  let snap: UsageSnapshot;
  try {
    snap = decodeUsage(text, 'usage.json');
  } catch (err) {
    if (err instanceof UsageFileError) return err;
    throw new Error(`decodeUsage threw ${String(err)} (not a UsageFileError)`, { cause: err });
  }
  expect(Number.isSafeInteger(snap.day)).toBe(true);
  for (const [id, n] of snap.used) {
    expect(typeof id).toBe('string');
    expect(Number.isSafeInteger(n) && n >= 0).toBe(true);
  }
  // Anything decoded can be reported (the `herald usage` command).
  const report = usageReport(CONFIG, snap, snap.day * DAY_MS);
  expect(typeof formatUsage(report)).toBe('string');
  return snap;
}

describe('usage file', () => {
  it('decodeUsage returns a well-formed snapshot or throws UsageFileError', () => {
    check(fc.property(usageTextArb, (text) => void decodeOrUsageError(text)));
  }, timeout());

  // Regression (found by this property, fixed in src): encodeUsage builds `apps` with
  // `apps[id] = n` on a plain object, so for the valid app id "__proto__" the assignment sets
  // the prototype and the count is not written: after a restart that app's quota starts from 0
  // (minimal case: {day: 0, used: {"__proto__" → 9007199254740991}} decodes with no apps).
  it('encode → decode gives back every count of every valid app id', () => {
    check(
      fc.property(snapshotArb, fc.integer({ min: 0, max: 8.64e15 }), (snap, savedAt) => {
        const back = decodeOrUsageError(encodeUsage(snap, savedAt));
        expect(back).not.toBeInstanceOf(UsageFileError);
        expect(back).toStrictEqual(snap);
      }),
    );
  }, timeout());

  it('readUsageFile: undefined when missing, else as decodeUsage, UsageFileError when unreadable', async () => {
    let n = 0;
    await checkAsync(
      fc.asyncProperty(fc.constantFrom('missing', 'directory', 'text', 'text', 'text'), usageTextArb, async (kind, text) => {
        const path = join(dir, `usage-${n++}.json`);
        if (kind === 'directory') mkdirSync(path);
        if (kind === 'text') writeFileSync(path, text);
        let got: UsageSnapshot | undefined;
        try {
          got = await readUsageFile(path);
        } catch (err) {
          if (!(err instanceof UsageFileError)) throw new Error(`readUsageFile threw ${String(err)} (not a UsageFileError)`, { cause: err });
          expect(kind).not.toBe('missing');
          return;
        }
        if (kind === 'missing') expect(got).toBeUndefined();
        else expect(got).toStrictEqual(decodeUsage(readFileSync(path, 'utf8'), path));
      }),
      0.05,
    );
  }, timeout(0.05, 50));
});

// ── webhook state file ───────────────────────────────────────────────────────────────

const count = fc.oneof(fc.nat(), fc.constant(Number.MAX_SAFE_INTEGER));
const deliveryArb: fc.Arbitrary<StoredDelivery> = fc.record({
  appId: fc.string(),
  url: fc.webUrl(),
  body: fc.string({ unit: 'grapheme' }),
  types: fc.subarray([...WEBHOOK_EVENT_TYPES]),
  events: count,
  createdAtMs: count,
  attempts: count,
  nextAttemptAtMs: count,
});
const heldArb: fc.Arbitrary<StoredHeld> = fc.oneof(
  fc.record({ appId: fc.string(), name: fc.constant('channel_vacated' as const), channel: fc.string(), dueAtMs: count }),
  fc.record({ appId: fc.string(), name: fc.constant('member_removed' as const), channel: fc.string(), userId: fc.string(), dueAtMs: count }),
);
/** Entries that may or may not be well-formed. */
const looseEntry = fc.oneof(deliveryArb as fc.Arbitrary<unknown>, heldArb, fc.jsonValue({ maxDepth: 2 }), deliveryArb.map((d) => ({ ...d, events: -1 })), heldArb.map((h) => ({ ...h, name: 'member_removed', userId: undefined })));
const stateTextArb = fc.oneof(
  fc.record({ version: fc.oneof({ weight: 4, arbitrary: fc.constant(STATE_VERSION) }, fc.jsonValue({ maxDepth: 1 })), savedAtMs: fc.jsonValue({ maxDepth: 1 }), deliveries: fc.oneof(fc.array(looseEntry, { maxLength: 4 }), fc.jsonValue({ maxDepth: 1 })), held: fc.oneof(fc.array(looseEntry, { maxLength: 4 }), fc.jsonValue({ maxDepth: 1 })) }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.string(),
  fc.integer({ min: 1, max: 5000 }).map((n) => `{"version":1,"deliveries":${'['.repeat(n)}${']'.repeat(n)},"held":[]}`),
);

describe('webhook state file', () => {
  it('loadState returns well-formed entries or throws an Error; a refused file can be quarantined', async () => {
    let n = 0;
    await checkAsync(
      fc.asyncProperty(stateTextArb, async (text) => {
        const file = join(dir, `webhooks-${n++}.json`);
        writeFileSync(file, text);
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        const v1 = typeof parsed === 'object' && parsed !== null && (parsed as { version?: unknown }).version === STATE_VERSION;
        let loaded;
        try {
          loaded = await loadState(file);
        } catch (err) {
          if (!(err instanceof Error)) throw new Error(`loadState threw a non-Error: ${String(err)}`);
          expect(v1).toBe(false);
          const aside = await quarantine(file, n);
          expect(existsSync(file)).toBe(false);
          expect(readFileSync(aside, 'utf8')).toBe(text);
          return;
        }
        expect(v1).toBe(true);
        if (loaded === undefined) throw new Error('loadState answered undefined for an existing file');
        const listed = (x: unknown): number => (Array.isArray(x) ? x.length : 0);
        const p = parsed as { deliveries?: unknown; held?: unknown };
        expect(loaded.deliveries.length + loaded.held.length + loaded.skipped).toBe(listed(p.deliveries) + listed(p.held));
        expect(loaded.skipped).toBeGreaterThanOrEqual(0);
        for (const d of loaded.deliveries) {
          expect(typeof d.appId === 'string' && typeof d.url === 'string' && typeof d.body === 'string').toBe(true);
          for (const t of d.types) expect(WEBHOOK_EVENT_TYPES).toContain(t);
          for (const c of [d.events, d.createdAtMs, d.attempts, d.nextAttemptAtMs]) expect(Number.isSafeInteger(c) && c >= 0).toBe(true);
        }
        for (const h of loaded.held) {
          expect(['channel_vacated', 'member_removed']).toContain(h.name);
          expect(h.name === 'member_removed' ? typeof h.userId === 'string' : h.userId === undefined).toBe(true);
        }
      }),
      0.1,
    );
  }, timeout(0.1, 50));

  it('saveState → loadState gives back what was saved (nothing saved: no file)', async () => {
    let n = 0;
    await checkAsync(
      fc.asyncProperty(fc.array(deliveryArb, { maxLength: 4 }), fc.array(heldArb, { maxLength: 4 }), async (deliveries, held) => {
        const file = join(dir, `saved-${n++}.json`);
        await saveState(file, { version: STATE_VERSION, savedAtMs: 1, deliveries, held });
        const loaded = await loadState(file);
        if (deliveries.length === 0 && held.length === 0) {
          expect(loaded).toBeUndefined();
          return;
        }
        // As plain JSON data (fast-check may build records without a prototype).
        expect(loaded).toStrictEqual(JSON.parse(JSON.stringify({ deliveries, held, skipped: 0 })));
      }),
      0.03,
    );
  }, timeout(0.03, 100));

  it('writeFileAtomic then reading gives back the text', async () => {
    let n = 0;
    await checkAsync(
      fc.asyncProperty(fc.oneof(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }), fc.string()), async (text) => {
        const file = join(dir, 'atomic', `f-${n++ % 3}.txt`);
        await writeFileAtomic(file, text);
        expect(readFileSync(file, 'utf8')).toBe(text);
      }),
      0.03,
    );
  }, timeout(0.03, 100));
});
