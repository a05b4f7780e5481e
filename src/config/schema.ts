/**
 * The config file's schema, the one source of truth: every key is known, typed, has a default
 * (or is required) and a range; the TypeScript types (config.ts) are inferred from it and its
 * JSON Schema (`herald config schema`) is exported from it. Unknown keys at any level are an
 * error naming their path, and a null value means "unset" (the default applies). Each check
 * carries the message a refused file gets; `configError` picks the one to report.
 */
import { z } from 'zod';

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly path: string,
    problem: string,
  ) {
    super(`${source}: ${path ? `"${path}" ` : ''}${problem}`);
    this.name = 'ConfigError';
  }
}

export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

export const WEBHOOK_EVENT_TYPES = [
  'channel_occupied',
  'channel_vacated',
  'member_added',
  'member_removed',
  'client_event',
  'cache_miss',
  'subscription_count',
] as const;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const ID = /^[A-Za-z0-9_\-.]+$/;
const URL_PATTERN = /^https?:\/\/\S+$/;
const KEY_PREFIX = /^[A-Za-z0-9_\-.:]+$/;

// ── field builders: each states the messages its checks give ─────────────────────────────

/** The message for a value of the wrong type; a missing one "is required". */
const expected = (what: string) => (issue: { readonly input?: unknown }) => (issue.input === undefined ? 'is required' : what);

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A setting whose null value counts as absent. `check` may refuse the value as a whole with
 * one message at the setting's own path (used where the old messages named the list or map,
 * not the item).
 */
function setting<T extends z.ZodType>(schema: T, check?: (value: unknown) => string | undefined) {
  return z.preprocess((value, ctx) => {
    if (value === null || value === undefined) return undefined;
    const problem = check?.(value);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem, input: value });
    return value;
  }, schema);
}

const string = () => z.string({ error: expected('must be a string') });
const nonEmpty = () => string().min(1, { error: 'must not be empty' });
const matching = (pattern: RegExp) => ({ error: `must match ${String(pattern)}` });

function int(byDefault: number, min: number, max?: number) {
  const atLeast = z.int({ error: expected('must be a whole number') }).min(min, { error: `must be ≥ ${min}` });
  return setting((max === undefined ? atLeast : atLeast.max(max, { error: `must be ≤ ${max}` })).default(byDefault));
}

const bool = (byDefault: boolean) => setting(z.boolean({ error: expected('must be true or false') }).default(byDefault));

function oneOf<const T extends readonly [string, ...string[]]>(values: T, byDefault: T[number]) {
  const problem = (issue: { readonly input?: unknown }) =>
    typeof issue.input === 'string' ? `must be one of ${values.join(', ')}` : expected('must be a string')(issue);
  return setting(z.enum(values, { error: problem }).default(byDefault));
}

function listOfStrings(value: unknown, allowed?: readonly string[]): string | undefined {
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) return 'must be a list of strings';
  const bad: unknown = allowed ? value.find((v) => !allowed.includes(v as string)) : undefined;
  return bad === undefined ? undefined : `has "${String(bad)}"; allowed: ${allowed?.join(', ')}`;
}

function mapOfStrings(value: unknown): string | undefined {
  if (!isPlainObject(value) || Object.values(value).some((v) => typeof v !== 'string')) return 'must be an object of string values';
  // A parsed record never keeps this key (it would replace the prototype): refuse it rather than drop it.
  return Object.hasOwn(value, '__proto__') ? 'must not name a header "__proto__"' : undefined;
}

/** An object that refuses keys not in `shape`, naming the keys it knows. */
function strictObject<S extends z.ZodRawShape>(shape: S) {
  const known = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (issue) => (issue.code === 'unrecognized_keys' ? `is not a known setting (known here: ${known})` : expected('must be an object')(issue)),
  });
}

const listOf = <T extends z.ZodType>(item: T) => z.array(item, { error: expected('must be a list') });

// ── the schema ───────────────────────────────────────────────────────────────────────────

export const LIMITS_SCHEMA = strictObject({
  maxConnections: int(10_000, 0),
  maxMessagesPerDay: int(10_000_000, 0),
  maxPayloadBytes: int(10_240, 1),
  maxChannelNameLength: int(164, 1, 1000),
  maxEventNameLength: int(200, 1, 1000),
  maxChannelsPerTrigger: int(100, 1, 10_000),
  maxBatchSize: int(10, 1, 1000),
  maxPresenceMembers: int(100, 1),
  maxPresenceUserInfoBytes: int(1024, 0),
  maxUserIdLength: int(128, 1, 1000),
  maxClientEventsPerSec: int(10, 0),
  maxRestRequestsPerSec: int(1000, 1),
  maxWatchlistSize: int(100, 0),
  maxChannelsPerConnection: int(100, 1, 100_000),
});

export const WEBHOOK_SCHEMA = strictObject({
  url: setting(string().regex(URL_PATTERN, matching(URL_PATTERN))),
  events: setting(z.array(z.enum(WEBHOOK_EVENT_TYPES)).default([...WEBHOOK_EVENT_TYPES]), (v) => listOfStrings(v, WEBHOOK_EVENT_TYPES)),
  filterPrefix: setting(string().default('')),
  headers: setting(z.record(z.string(), z.string()).default({}), mapOfStrings),
});

export const APP_SCHEMA = strictObject({
  id: setting(nonEmpty().regex(ID, matching(ID))),
  key: setting(nonEmpty().regex(ID, matching(ID))),
  secret: setting(nonEmpty()),
  /** Empty means "the id" (filled in by parseConfig). */
  name: setting(string().default('')),
  enabled: bool(true),
  enableClientEvents: bool(false),
  enableSubscriptionCount: bool(false),
  enableWatchlist: bool(false),
  requireAuthorizedConnections: bool(false),
  authorizedConnectionTimeoutSec: int(30, 1),
  cacheTtlSec: int(1800, 1, 86_400),
  limits: setting(LIMITS_SCHEMA.prefault({})),
  webhooks: setting(listOf(WEBHOOK_SCHEMA).default([])),
});

export const TLS_SCHEMA = strictObject({
  certFile: setting(nonEmpty()),
  keyFile: setting(nonEmpty()),
});

export const ADAPTER_SCHEMA = strictObject({
  driver: oneOf(['local', 'redis'], 'local'),
  redisUrl: setting(string().default('redis://127.0.0.1:6379')),
  keyPrefix: setting(string().regex(KEY_PREFIX, matching(KEY_PREFIX)).default('herald')),
  heartbeatMs: int(1000, 50, 60_000),
  deadAfterMs: int(5000, 200, 600_000),
  usageSyncMs: int(1000, 50, 60_000),
  commandTimeoutMs: int(2000, 50, 60_000),
});

export const CONFIG_SCHEMA = strictObject({
  host: setting(nonEmpty().default('127.0.0.1')),
  port: int(6001, 0, 65_535),
  metricsHost: setting(nonEmpty().default('127.0.0.1')),
  metricsPort: int(9601, 0, 65_535),
  metricsEnabled: bool(true),
  logLevel: oneOf(LOG_LEVELS, 'info'),
  allowUwsFallback: bool(false),
  activityTimeoutSec: int(120, 1, 3600),
  pongTimeoutSec: int(30, 1, 600),
  maxConnections: int(100_000, 0),
  maxFrameBytes: int(32_768, 1024, 16 * 1024 * 1024),
  maxRequestBodyBytes: int(262_144, 1024, 64 * 1024 * 1024),
  maxBackpressureBytes: int(1_048_576, 1024),
  memoryLimitBytes: int(0, 0),
  shutdownGraceSec: int(10, 0, 3600),
  shutdownDrainDelaySec: int(0, 0, 3600),
  stateDir: setting(nonEmpty().default('.herald-state')),
  usageFlushSec: int(5, 1, 3600),
  webhookBatchMs: int(250, 0, 60_000),
  webhookBatchMaxEvents: int(20, 1, 1000),
  webhookDelayMs: int(3000, 0, 600_000),
  webhookTimeoutMs: int(5000, 100, 120_000),
  webhookRetryInitialMs: int(1000, 10, 600_000),
  webhookRetryWindowSec: int(300, 0, 86_400),
  webhookQueueMax: int(10_000, 1, 10_000_000),
  webhookMaxInFlight: int(8, 1, 1000),
  maxConnectionsPerIp: int(100, 1, 10_000_000),
  ipConnectionsPerSec: int(10, 1, 10_000_000),
  ipConnectionBurst: int(50, 1, 10_000_000),
  ipPublicSubscribesPerSec: int(20, 1, 10_000_000),
  ipPublicSubscribeBurst: int(200, 1, 10_000_000),
  trustedProxies: setting(z.array(z.string()).default([]), (v) => listOfStrings(v)),
  allowPublicDevApp: bool(false),
  tls: setting(TLS_SCHEMA.optional()),
  adapter: setting(ADAPTER_SCHEMA.prefault({})),
  apps: setting(listOf(APP_SCHEMA).min(1, { error: 'must list at least one app' })),
});

// ── reporting ────────────────────────────────────────────────────────────────────────────

function join(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) out = typeof key === 'number' ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key);
  return out;
}

const startsWith = (path: readonly PropertyKey[], prefix: readonly PropertyKey[]) => prefix.every((key, i) => path[i] === key);

/**
 * The one problem a refused config reports, as the file would be read top to bottom: zod lists
 * issues in schema order but an object's unknown keys after its fields' issues, so an unknown
 * key in an object enclosing the first issue is reported first (the outermost such object).
 */
export function configError(source: string, issues: readonly z.core.$ZodIssue[]): ConfigError {
  const first = issues[0];
  if (first === undefined) return new ConfigError(source, '', 'is not valid');
  const unknown = issues
    .filter((i): i is z.core.$ZodIssueUnrecognizedKeys => i.code === 'unrecognized_keys' && startsWith(first.path, i.path))
    .sort((a, b) => a.path.length - b.path.length)[0];
  if (unknown !== undefined) return new ConfigError(source, join([...unknown.path, unknown.keys[0] ?? '']), unknown.message);
  return new ConfigError(source, join(first.path), first.message);
}
