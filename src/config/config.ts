/**
 * Herald's configuration: one JSON file (path from --config or HERALD_CONFIG), environment
 * overrides for the server settings, validated once against the schema and deep-frozen.
 * Units are in the names. Every limit is finite by default.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { trustedProxyList } from '../quota/per-address.js';
import { ConfigError, deepFreeze, parseObject, type Schema } from './schema.js';

/** Secrets shorter than this are refused: a short HMAC key can be guessed offline from one signed request. */
export const MIN_SECRET_LENGTH = 16;

export const WEBHOOK_EVENT_TYPES = [
  'channel_occupied',
  'channel_vacated',
  'member_added',
  'member_removed',
  'client_event',
  'cache_miss',
  'subscription_count',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export interface AppLimits {
  maxConnections: number;
  maxMessagesPerDay: number;
  maxPayloadBytes: number;
  maxChannelNameLength: number;
  maxEventNameLength: number;
  maxChannelsPerTrigger: number;
  maxBatchSize: number;
  maxPresenceMembers: number;
  maxPresenceUserInfoBytes: number;
  maxUserIdLength: number;
  maxClientEventsPerSec: number;
  maxRestRequestsPerSec: number;
  maxWatchlistSize: number;
  maxChannelsPerConnection: number;
}

export interface WebhookTarget {
  url: string;
  events: readonly WebhookEventType[];
  filterPrefix: string;
  headers: Readonly<Record<string, string>>;
}

export interface AppConfig {
  id: string;
  key: string;
  secret: string;
  name: string;
  enabled: boolean;
  enableClientEvents: boolean;
  enableSubscriptionCount: boolean;
  enableWatchlist: boolean;
  requireAuthorizedConnections: boolean;
  authorizedConnectionTimeoutSec: number;
  cacheTtlSec: number;
  limits: AppLimits;
  webhooks: readonly WebhookTarget[];
}

export interface AdapterConfig {
  driver: 'local' | 'redis';
  redisUrl: string;
  keyPrefix: string;
  heartbeatMs: number;
  deadAfterMs: number;
  usageSyncMs: number;
}

export interface TlsConfig {
  certFile: string;
  keyFile: string;
}

export interface HeraldConfig {
  host: string;
  port: number;
  metricsHost: string;
  metricsPort: number;
  metricsEnabled: boolean;
  logLevel: string;
  allowUwsFallback: boolean;
  activityTimeoutSec: number;
  pongTimeoutSec: number;
  maxConnections: number;
  maxFrameBytes: number;
  maxRequestBodyBytes: number;
  maxBackpressureBytes: number;
  memoryLimitBytes: number;
  shutdownGraceSec: number;
  shutdownDrainDelaySec: number;
  stateDir: string;
  usageFlushSec: number;
  webhookBatchMs: number;
  webhookBatchMaxEvents: number;
  webhookDelayMs: number;
  webhookTimeoutMs: number;
  webhookRetryInitialMs: number;
  webhookRetryWindowSec: number;
  webhookQueueMax: number;
  webhookMaxInFlight: number;
  maxConnectionsPerIp: number;
  ipConnectionsPerSec: number;
  ipConnectionBurst: number;
  ipPublicSubscribesPerSec: number;
  ipPublicSubscribeBurst: number;
  trustedProxies: readonly string[];
  allowPublicDevApp: boolean;
  tls?: TlsConfig;
  adapter: AdapterConfig;
  apps: readonly AppConfig[];
}

const ID = /^[A-Za-z0-9_\-.]+$/;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const LIMITS_SCHEMA: Schema = {
  maxConnections: { kind: 'int', default: 10_000, min: 0 },
  maxMessagesPerDay: { kind: 'int', default: 10_000_000, min: 0 },
  maxPayloadBytes: { kind: 'int', default: 10_240, min: 1 },
  maxChannelNameLength: { kind: 'int', default: 164, min: 1, max: 1000 },
  maxEventNameLength: { kind: 'int', default: 200, min: 1, max: 1000 },
  maxChannelsPerTrigger: { kind: 'int', default: 100, min: 1, max: 10_000 },
  maxBatchSize: { kind: 'int', default: 10, min: 1, max: 1000 },
  maxPresenceMembers: { kind: 'int', default: 100, min: 1 },
  maxPresenceUserInfoBytes: { kind: 'int', default: 1024, min: 0 },
  maxUserIdLength: { kind: 'int', default: 128, min: 1, max: 1000 },
  maxClientEventsPerSec: { kind: 'int', default: 10, min: 0 },
  maxRestRequestsPerSec: { kind: 'int', default: 1000, min: 1 },
  maxWatchlistSize: { kind: 'int', default: 100, min: 0 },
  maxChannelsPerConnection: { kind: 'int', default: 100, min: 1, max: 100_000 },
};

const WEBHOOK_SCHEMA: Schema = {
  url: { kind: 'string', pattern: /^https?:\/\/\S+$/ },
  events: { kind: 'stringList', oneOf: WEBHOOK_EVENT_TYPES, default: WEBHOOK_EVENT_TYPES },
  filterPrefix: { kind: 'string', default: '' },
  headers: { kind: 'stringMap', default: {} },
};

export const APP_SCHEMA: Schema = {
  id: { kind: 'string', nonEmpty: true, pattern: ID },
  key: { kind: 'string', nonEmpty: true, pattern: ID },
  secret: { kind: 'string', nonEmpty: true },
  name: { kind: 'string', default: '' },
  enabled: { kind: 'bool', default: true },
  enableClientEvents: { kind: 'bool', default: false },
  enableSubscriptionCount: { kind: 'bool', default: false },
  enableWatchlist: { kind: 'bool', default: false },
  requireAuthorizedConnections: { kind: 'bool', default: false },
  authorizedConnectionTimeoutSec: { kind: 'int', default: 30, min: 1 },
  cacheTtlSec: { kind: 'int', default: 1800, min: 1, max: 86_400 },
  limits: { kind: 'object', fields: LIMITS_SCHEMA },
  webhooks: { kind: 'list', of: WEBHOOK_SCHEMA, default: [] },
};

export const CONFIG_SCHEMA: Schema = {
  host: { kind: 'string', default: '127.0.0.1', nonEmpty: true },
  port: { kind: 'int', default: 6001, min: 0, max: 65_535 },
  metricsHost: { kind: 'string', default: '127.0.0.1', nonEmpty: true },
  metricsPort: { kind: 'int', default: 9601, min: 0, max: 65_535 },
  metricsEnabled: { kind: 'bool', default: true },
  logLevel: { kind: 'string', default: 'info', oneOf: LOG_LEVELS },
  allowUwsFallback: { kind: 'bool', default: false },
  activityTimeoutSec: { kind: 'int', default: 120, min: 1, max: 3600 },
  pongTimeoutSec: { kind: 'int', default: 30, min: 1, max: 600 },
  maxConnections: { kind: 'int', default: 100_000, min: 0 },
  maxFrameBytes: { kind: 'int', default: 32_768, min: 1024, max: 16 * 1024 * 1024 },
  maxRequestBodyBytes: { kind: 'int', default: 262_144, min: 1024, max: 64 * 1024 * 1024 },
  maxBackpressureBytes: { kind: 'int', default: 1_048_576, min: 1024 },
  memoryLimitBytes: { kind: 'int', default: 0, min: 0 },
  shutdownGraceSec: { kind: 'int', default: 10, min: 0, max: 3600 },
  shutdownDrainDelaySec: { kind: 'int', default: 0, min: 0, max: 3600 },
  stateDir: { kind: 'string', default: '.herald-state', nonEmpty: true },
  usageFlushSec: { kind: 'int', default: 5, min: 1, max: 3600 },
  webhookBatchMs: { kind: 'int', default: 250, min: 0, max: 60_000 },
  webhookBatchMaxEvents: { kind: 'int', default: 20, min: 1, max: 1000 },
  webhookDelayMs: { kind: 'int', default: 3000, min: 0, max: 600_000 },
  webhookTimeoutMs: { kind: 'int', default: 5000, min: 100, max: 120_000 },
  webhookRetryInitialMs: { kind: 'int', default: 1000, min: 10, max: 600_000 },
  webhookRetryWindowSec: { kind: 'int', default: 300, min: 0, max: 86_400 },
  webhookQueueMax: { kind: 'int', default: 10_000, min: 1, max: 10_000_000 },
  webhookMaxInFlight: { kind: 'int', default: 8, min: 1, max: 1000 },
  maxConnectionsPerIp: { kind: 'int', default: 100, min: 1, max: 10_000_000 },
  ipConnectionsPerSec: { kind: 'int', default: 10, min: 1, max: 10_000_000 },
  ipConnectionBurst: { kind: 'int', default: 50, min: 1, max: 10_000_000 },
  ipPublicSubscribesPerSec: { kind: 'int', default: 20, min: 1, max: 10_000_000 },
  ipPublicSubscribeBurst: { kind: 'int', default: 200, min: 1, max: 10_000_000 },
  trustedProxies: { kind: 'stringList', default: [] },
  allowPublicDevApp: { kind: 'bool', default: false },
  tls: {
    kind: 'object',
    optional: true,
    fields: { certFile: { kind: 'string', nonEmpty: true }, keyFile: { kind: 'string', nonEmpty: true } },
  },
  adapter: {
    kind: 'object',
    fields: {
      driver: { kind: 'string', default: 'local', oneOf: ['local', 'redis'] },
      redisUrl: { kind: 'string', default: 'redis://127.0.0.1:6379' },
      keyPrefix: { kind: 'string', default: 'herald', pattern: /^[A-Za-z0-9_\-.:]+$/ },
      heartbeatMs: { kind: 'int', default: 1000, min: 50, max: 60_000 },
      deadAfterMs: { kind: 'int', default: 5000, min: 200, max: 600_000 },
      usageSyncMs: { kind: 'int', default: 1000, min: 50, max: 60_000 },
    },
  },
  apps: { kind: 'list', of: APP_SCHEMA },
};

/** The development app used when no config file is given. Its credentials are public. */
export const DEV_APP = Object.freeze({
  id: 'app-id',
  key: 'app-key',
  secret: 'app-secret',
  name: 'development',
  enableClientEvents: true,
});

const ENV_OVERRIDES: ReadonlyArray<[string, string, 'string' | 'int' | 'bool']> = [
  ['HERALD_HOST', 'host', 'string'],
  ['HERALD_PORT', 'port', 'int'],
  ['HERALD_METRICS_HOST', 'metricsHost', 'string'],
  ['HERALD_METRICS_PORT', 'metricsPort', 'int'],
  ['HERALD_LOG_LEVEL', 'logLevel', 'string'],
  ['HERALD_STATE_DIR', 'stateDir', 'string'],
  ['HERALD_ALLOW_UWS_FALLBACK', 'allowUwsFallback', 'bool'],
  ['HERALD_ALLOW_PUBLIC_DEV_APP', 'allowPublicDevApp', 'bool'],
];

function envValue(name: string, raw: string, kind: 'string' | 'int' | 'bool'): unknown {
  if (kind === 'string') return raw;
  if (kind === 'int') {
    if (!/^\d+$/.test(raw)) throw new ConfigError('environment', name, 'must be a whole number');
    return Number(raw);
  }
  if (/^(1|true|yes)$/i.test(raw)) return true;
  if (/^(0|false|no)$/i.test(raw)) return false;
  throw new ConfigError('environment', name, 'must be true or false');
}

/**
 * Validates raw config data (from a file or a test) and returns the frozen config. `devApp`
 * is set only for the built-in development app, whose short public secret is allowed (it may
 * only be served on a loopback address: `checkDevAppHost`).
 */
export function parseConfig(raw: unknown, source: string, env: NodeJS.ProcessEnv = {}, devApp = false): HeraldConfig {
  const input = { ...(raw as Record<string, unknown>) };
  for (const [name, key, kind] of ENV_OVERRIDES) {
    const value = env[name];
    if (value !== undefined && value !== '') input[key] = envValue(name, value, kind);
  }
  const parsed = parseObject(CONFIG_SCHEMA, input, source, '') as unknown as HeraldConfig;
  checkApps(parsed.apps, source, devApp);
  try {
    trustedProxyList(parsed.trustedProxies);
  } catch (err) {
    throw new ConfigError(source, 'trustedProxies', (err as Error).message);
  }
  for (const app of parsed.apps as AppConfig[]) if (!app.name) app.name = app.id;
  return deepFreeze(parsed);
}

function checkApps(apps: readonly AppConfig[], source: string, devApp: boolean): void {
  if (apps.length === 0) throw new ConfigError(source, 'apps', 'must list at least one app');
  apps.forEach((app, i) => {
    if (!devApp && app.secret.length < MIN_SECRET_LENGTH) {
      throw new ConfigError(source, `apps[${i}].secret`, `is ${app.secret.length} characters; use at least ${MIN_SECRET_LENGTH} (\`herald app create\` makes 40)`);
    }
  });
  const ids = new Map<string, number>();
  const keys = new Map<string, number>();
  apps.forEach((app, i) => {
    const prevId = ids.get(app.id);
    if (prevId !== undefined) throw new ConfigError(source, `apps[${i}].id`, `duplicates apps[${prevId}].id "${app.id}"`);
    const prevKey = keys.get(app.key);
    if (prevKey !== undefined) {
      throw new ConfigError(source, `apps[${i}].key`, `duplicates apps[${prevKey}].key "${app.key}"`);
    }
    ids.set(app.id, i);
    keys.set(app.key, i);
  });
}

/**
 * V8's JSON.parse messages can quote the text around the error, which may be a secret; this
 * message keeps only the position so a refused config never leaks one into a log line.
 */
function jsonProblem(err: unknown): string {
  const position = /at position (\d+)/.exec((err as Error).message)?.[1];
  return position === undefined ? 'syntax error (text withheld: it may hold a secret)' : `syntax error at character ${position}`;
}

/** Loopback listen addresses: the only ones the public development app may be served on. */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1' || /^::ffff:127\./i.test(host);
}

/** The development app's credentials are public: refuse to serve it beyond this machine unless allowed. */
function checkDevAppHost(config: HeraldConfig): void {
  if (isLoopbackHost(config.host) || config.allowPublicDevApp) return;
  throw new ConfigError(
    'default config',
    'host',
    `is ${config.host}, but with no config file Herald serves the development app whose key and secret are public ` +
      '(anyone could publish to it). Create a config with `herald app create --config herald.json`, ' +
      'or set HERALD_ALLOW_PUBLIC_DEV_APP=1 to serve it anyway',
  );
}

export interface LoadedConfig {
  config: HeraldConfig;
  /** The file it came from, or undefined when the development default is in use. */
  file: string | undefined;
}

/** Reads the config file (if any) and applies environment overrides. Throws ConfigError. */
export function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv): LoadedConfig {
  const path = file ?? env.HERALD_CONFIG;
  if (!path) {
    const config = parseConfig({ apps: [DEV_APP] }, 'default config', env, true);
    checkDevAppHost(config);
    return { config, file: undefined };
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, '', `cannot be read: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(path, '', `is not valid JSON: ${jsonProblem(err)}`);
  }
  return { config: parseConfig(raw, path, env), file: path };
}
