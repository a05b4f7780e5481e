/**
 * Herald's configuration: one JSON file (path from --config or HERALD_CONFIG), environment
 * overrides for the server settings, validated once against the schema (schema.ts, which
 * the types below are inferred from), checked across apps, and deep-frozen. Units are in the
 * names. Every limit is finite by default.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { z } from 'zod';
import { trustedProxyList } from '../quota/per-address.js';
import {
  type ADAPTER_SCHEMA,
  type APP_SCHEMA,
  CONFIG_SCHEMA,
  ConfigError,
  configError,
  deepFreeze,
  type LIMITS_SCHEMA,
  type TLS_SCHEMA,
  type WEBHOOK_EVENT_TYPES,
  type WEBHOOK_SCHEMA,
} from './schema.js';

export { WEBHOOK_EVENT_TYPES } from './schema.js';

/** Secrets shorter than this are refused: a short HMAC key can be guessed offline from one signed request. */
export const MIN_SECRET_LENGTH = 16;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];
export type AppLimits = z.output<typeof LIMITS_SCHEMA>;
export type WebhookTarget = z.output<typeof WEBHOOK_SCHEMA>;
export type AppConfig = z.output<typeof APP_SCHEMA>;
export type AdapterConfig = z.output<typeof ADAPTER_SCHEMA>;
export type TlsConfig = z.output<typeof TLS_SCHEMA>;
export type HeraldConfig = z.output<typeof CONFIG_SCHEMA>;

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
  const result = CONFIG_SCHEMA.safeParse(input);
  if (!result.success) throw configError(source, result.error.issues);
  const parsed = result.data;
  checkApps(parsed.apps, source, devApp);
  try {
    trustedProxyList(parsed.trustedProxies);
  } catch (err) {
    throw new ConfigError(source, 'trustedProxies', (err as Error).message);
  }
  for (const app of parsed.apps) if (!app.name) app.name = app.id;
  return deepFreeze(parsed);
}

function checkApps(apps: readonly AppConfig[], source: string, devApp: boolean): void {
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
