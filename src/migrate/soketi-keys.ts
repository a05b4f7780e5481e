/**
 * soketi's settings as one flat map of dotted keys (`adapter.redis.prefix`,
 * `appManager.array.apps.0.id`): its JSON config file may spell a setting as a dotted key or as
 * nested objects, and each `SOKETI_*` environment variable names one dotted key. Environment values
 * are parsed as JSON when they parse (soketi does the same: `true`, `100`, `[…]`) and override the
 * file, as in soketi, where the environment is applied after the file.
 */
import type { Unmapped } from './translation.js';

/** `SOKETI_<name>` → the dotted key it sets (soketi 1.x's documented variables). */
export const SOKETI_ENV: Readonly<Record<string, string>> = {
  HOST: 'host',
  PORT: 'port',
  DEBUG: 'debug',
  MODE: 'mode',
  PATH_PREFIX: 'pathPrefix',
  SHUTDOWN_GRACE_PERIOD: 'shutdownGracePeriod',
  ADAPTER_DRIVER: 'adapter.driver',
  ADAPTER_REDIS_PREFIX: 'adapter.redis.prefix',
  ADAPTER_REDIS_CLUSTER_MODE: 'adapter.redis.clusterMode',
  ADAPTER_REDIS_REQUESTS_TIMEOUT: 'adapter.redis.requestsTimeout',
  ADAPTER_CLUSTER_REQUESTS_TIMEOUT: 'adapter.cluster.requestsTimeout',
  ADAPTER_NATS_SERVERS: 'adapter.nats.servers',
  APP_MANAGER_DRIVER: 'appManager.driver',
  APP_MANAGER_CACHE_ENABLED: 'appManager.cache.enabled',
  APP_MANAGER_CACHE_TTL: 'appManager.cache.ttl',
  APP_MANAGER_DYNAMODB_TABLE: 'appManager.dynamodb.table',
  APP_MANAGER_MYSQL_TABLE: 'appManager.mysql.table',
  APP_MANAGER_POSTGRES_TABLE: 'appManager.postgres.table',
  CHANNEL_LIMITS_MAX_NAME_LENGTH: 'channelLimits.maxNameLength',
  CHANNEL_CACHE_TTL: 'channelLimits.cacheTtl',
  CACHE_DRIVER: 'cache.driver',
  DEFAULT_APP_ID: 'appManager.array.apps.0.id',
  DEFAULT_APP_KEY: 'appManager.array.apps.0.key',
  DEFAULT_APP_SECRET: 'appManager.array.apps.0.secret',
  DEFAULT_APP_MAX_CONNS: 'appManager.array.apps.0.maxConnections',
  DEFAULT_APP_ENABLE_CLIENT_MESSAGES: 'appManager.array.apps.0.enableClientMessages',
  DEFAULT_APP_ENABLED: 'appManager.array.apps.0.enabled',
  DEFAULT_APP_MAX_BACKEND_EVENTS_PER_SEC: 'appManager.array.apps.0.maxBackendEventsPerSecond',
  DEFAULT_APP_MAX_CLIENT_EVENTS_PER_SEC: 'appManager.array.apps.0.maxClientEventsPerSecond',
  DEFAULT_APP_MAX_READ_REQ_PER_SEC: 'appManager.array.apps.0.maxReadRequestsPerSecond',
  DEFAULT_APP_WEBHOOKS: 'appManager.array.apps.0.webhooks',
  DB_MYSQL_HOST: 'database.mysql.host',
  DB_POSTGRES_HOST: 'database.postgres.host',
  DB_REDIS_HOST: 'database.redis.host',
  DB_REDIS_PORT: 'database.redis.port',
  DB_REDIS_DB: 'database.redis.db',
  DB_REDIS_USERNAME: 'database.redis.username',
  DB_REDIS_PASSWORD: 'database.redis.password',
  DB_REDIS_KEY_PREFIX: 'database.redis.keyPrefix',
  DB_REDIS_SENTINELS: 'database.redis.sentinels',
  DB_REDIS_CLUSTER_NODES: 'database.redis.clusterNodes',
  EVENT_MAX_BATCH_SIZE: 'eventLimits.maxBatchSize',
  EVENT_MAX_CHANNELS_AT_ONCE: 'eventLimits.maxChannelsAtOnce',
  EVENT_MAX_NAME_LENGTH: 'eventLimits.maxNameLength',
  EVENT_MAX_SIZE_IN_KB: 'eventLimits.maxPayloadInKb',
  HTTP_ACCEPT_TRAFFIC_MEMORY_THRESHOLD: 'httpApi.acceptTraffic.memoryThreshold',
  METRICS_ENABLED: 'metrics.enabled',
  METRICS_DRIVER: 'metrics.driver',
  METRICS_PROMETHEUS_PREFIX: 'metrics.prometheus.prefix',
  METRICS_SERVER_PORT: 'metrics.port',
  PRESENCE_MAX_MEMBER_SIZE: 'presence.maxMemberSizeInKb',
  PRESENCE_MAX_MEMBERS: 'presence.maxMembersPerChannel',
  QUEUE_DRIVER: 'queue.driver',
  RATE_LIMITER_DRIVER: 'rateLimiter.driver',
  SSL_CERT: 'ssl.certPath',
  SSL_KEY: 'ssl.keyPath',
  SSL_PASS: 'ssl.passphrase',
  SSL_CA: 'ssl.caPath',
  WEBHOOKS_BATCHING: 'webhooks.batching.enabled',
  WEBHOOKS_BATCHING_DURATION: 'webhooks.batching.duration',
};

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Nested objects become dotted keys; arrays (the apps, webhooks) stay whole values. */
function flatten(prefix: string, value: unknown, into: Map<string, unknown>): void {
  if (isPlainObject(value) && Object.keys(value).length > 0) {
    for (const [k, v] of Object.entries(value)) flatten(prefix ? `${prefix}.${k}` : k, v, into);
  } else if (prefix) {
    into.set(prefix, value);
  }
}

function envValue(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw; // not JSON: soketi keeps the text as it is
  }
}

export interface SoketiSettings {
  readonly settings: Map<string, unknown>;
  /** `SOKETI_*` variables this importer does not know. */
  readonly unknownEnv: Unmapped[];
}

/**
 * The merged settings: the file's (dotted or nested) keys, then the `SOKETI_*` variables of
 * `env`. A key set both as a whole object and as dotted children keeps both: the later wins
 * per leaf, as soketi's dotted setter does.
 */
export function soketiSettings(file: unknown, env: Readonly<Record<string, string | undefined>>): SoketiSettings {
  const settings = new Map<string, unknown>();
  if (isPlainObject(file)) flatten('', file, settings);
  const unknownEnv: Unmapped[] = [];
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('SOKETI_') || raw === undefined || raw === '') continue;
    const key = SOKETI_ENV[name.slice('SOKETI_'.length)];
    if (key === undefined) unknownEnv.push({ setting: name, reason: 'not a soketi variable this importer knows' });
    else settings.set(key, envValue(raw));
  }
  return { settings, unknownEnv };
}
