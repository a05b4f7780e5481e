/**
 * `herald import soketi`: a soketi config (its JSON file and `SOKETI_*` variables, merged as
 * soketi merges them: soketi-keys.ts) → a Herald config. Server settings are mapped here, apps in
 * soketi-apps.ts. Every setting that is not carried over is listed with the reason; settings at
 * soketi's documented defaults that need nothing in Herald (local adapter, array app manager, sync
 * queue, local rate limiter, Prometheus metrics) are consumed silently.
 */
import { convertApps, soketiApps } from './soketi-apps.js';
import { soketiSettings } from './soketi-keys.js';
import { flag, ImportError, redisUrl, text, type Translation, type Unmapped, wholeNumber } from './translation.js';

/** Dotted-key prefixes with no Herald counterpart, and why. The longest matching prefix wins. */
const NO_COUNTERPART: ReadonlyArray<[string, string]> = [
  ['appManager.cache', 'Herald reads apps from its config file and keeps them in memory (SIGHUP reloads); there is no app cache'],
  ['appManager.mysql', 'belongs to the MySQL app manager, which Herald does not have'],
  ['appManager.postgres', 'belongs to the PostgreSQL app manager, which Herald does not have'],
  ['appManager.dynamodb', 'belongs to the DynamoDB app manager, which Herald does not have'],
  ['database.mysql', 'MySQL connection for soketi\'s app manager; Herald reads apps from its config file'],
  ['database.postgres', 'PostgreSQL connection for soketi\'s app manager; Herald reads apps from its config file'],
  ['databasePooling', 'SQL connection pooling for soketi\'s app manager; Herald has no database'],
  ['database.redis.sentinels', 'Herald connects to one Redis server (adapter.redisUrl); no Sentinel'],
  ['database.redis.sentinelPassword', 'Herald connects to one Redis server (adapter.redisUrl); no Sentinel'],
  ['database.redis.name', 'Sentinel master name; Herald connects to one Redis server (adapter.redisUrl)'],
  ['database.redis.clusterNodes', 'Herald connects to one Redis server (adapter.redisUrl); no Redis Cluster'],
  ['database.redis.keyPrefix', 'Herald prefixes its Redis keys with adapter.keyPrefix (from adapter.redis.prefix), not an ioredis keyPrefix'],
  ['adapter.redis.clusterMode', 'Herald connects to one Redis server (adapter.redisUrl); no Redis Cluster'],
  ['adapter.redis.shardMode', 'Herald publishes with plain Redis pub/sub; no sharded pub/sub'],
  ['adapter.redis', 'no Herald adapter setting corresponds (Herald has adapter.commandTimeoutMs, heartbeatMs, deadAfterMs)'],
  ['adapter.cluster', 'soketi\'s cluster adapter has no Herald counterpart'],
  ['adapter.nats', 'Herald has no NATS adapter'],
  ['cluster', 'soketi\'s cluster discovery (UDP) has no Herald counterpart: Herald nodes find each other through Redis'],
  ['cors', 'Herald has no CORS settings'],
  ['cache', 'Herald keeps cache channels itself; there is no cache driver to choose'],
  ['queue', 'Herald delivers webhooks from an in-process queue with retries (webhookQueueMax, webhookRetryWindowSec); no external queue'],
  ['rateLimiter', 'Herald counts rate limits itself (per node; the REST budget is split across live nodes); no rate-limiter driver'],
  ['metrics.prometheus', 'Herald\'s metric names are fixed (herald_*); dashboards need updating'],
  ['metrics', 'no Herald metrics setting corresponds (Herald exposes Prometheus metrics only)'],
  ['httpApi', 'no Herald setting corresponds (Herald\'s memory guard is memoryLimitBytes, in bytes)'],
  ['instance', 'node identity; Herald picks its own'],
  ['pathPrefix', 'Herald has no path prefix setting: WebSocket URLs with any prefix before /app/{key} are accepted; rewrite REST paths in your proxy'],
  ['mode', 'Herald runs one mode: every node serves WebSocket and REST'],
  ['webhooks', 'no Herald webhook setting corresponds'],
  ['ssl.passphrase', 'Herald reads an unencrypted key file; decrypt it (openssl pkey) or terminate TLS at a proxy'],
  ['ssl.caPath', 'put the CA chain into tls.certFile'],
];

/** Values that are soketi's defaults and need nothing in Herald. */
const NOTHING_TO_DO: Readonly<Record<string, unknown>> = {
  'appManager.driver': 'array',
  'adapter.driver': 'local',
  'queue.driver': 'sync',
  'rateLimiter.driver': 'local',
  'metrics.driver': 'prometheus',
  'cache.driver': 'memory',
  mode: 'full',
  pathPrefix: '',
  'ssl.passphrase': '',
  'ssl.caPath': '',
  'adapter.redis.prefix': '',
};

function reasonFor(key: string): string {
  const match = NO_COUNTERPART.filter(([p]) => key === p || key.startsWith(`${p}.`)).sort((a, b) => b[0].length - a[0].length)[0];
  return match?.[1] ?? 'not a soketi setting this importer knows';
}

const KB = 1024;
/** Herald's default maxFrameBytes (schema.ts). */
const FRAME_DEFAULT = 32_768;
const APP_DEFAULTS: ReadonlyArray<[string, string]> = [
  ['channelLimits.maxNameLength', 'maxChannelNameLength'],
  ['eventLimits.maxChannelsAtOnce', 'maxEventChannelsAtOnce'],
  ['eventLimits.maxNameLength', 'maxEventNameLength'],
  ['eventLimits.maxPayloadInKb', 'maxEventPayloadInKb'],
  ['eventLimits.maxBatchSize', 'maxEventBatchSize'],
  ['presence.maxMembersPerChannel', 'maxPresenceMembersPerChannel'],
  ['presence.maxMemberSizeInKb', 'maxPresenceMemberSizeInKb'],
];

/** `file` is the parsed JSON of soketi's config file ({} when none); `env` holds the SOKETI_* variables. */
export function importSoketi(file: unknown, env: Readonly<Record<string, string | undefined>>): Translation {
  const { settings, unknownEnv } = soketiSettings(file, env);
  const unmapped: Unmapped[] = [...unknownEnv];
  const notes: string[] = [];
  const used = new Set<string>();
  const take = (key: string): unknown => {
    used.add(key);
    return settings.get(key);
  };
  const config: Record<string, unknown> = {};
  mapServer(take, config, notes);
  mapAdapter(take, config, unmapped);
  mapWebhookBatching(take, config);

  const driver = text(take('appManager.driver')) ?? 'array';
  if (driver !== 'array') {
    throw new ImportError(
      `soketi reads its apps from the "${driver}" app manager, which Herald cannot read. ` +
        'Export the apps (id, key, secret) into a soketi config file under "appManager.array.apps", or add them with `herald app create`, then import again',
    );
  }
  const defaults: Record<string, number> = {};
  for (const [key, field] of APP_DEFAULTS) {
    const n = wholeNumber(take(key));
    if (n !== undefined) defaults[field] = n;
  }
  const cacheTtl = wholeNumber(take('channelLimits.cacheTtl'));
  const authTimeoutMs = wholeNumber(take('userAuthenticationTimeout'));
  const userAuthTimeoutSec = authTimeoutMs === undefined ? undefined : Math.max(1, Math.ceil(authTimeoutMs / 1000));
  const apps = convertApps(soketiApps(settings), { defaults, userAuthTimeoutSec, unmapped, notes });
  if (cacheTtl !== undefined) for (const app of apps) app.cacheTtlSec = cacheTtl;
  config.apps = apps;
  const largest = Math.max(0, ...apps.map((a) => (a.limits as { maxPayloadBytes?: number } | undefined)?.maxPayloadBytes ?? 0));
  if (largest > FRAME_DEFAULT) {
    notes.push(`event payloads up to ${largest} bytes are allowed, but a client event must also fit in one WebSocket frame (maxFrameBytes, ${FRAME_DEFAULT}); raise maxFrameBytes if clients send such events`);
  }

  for (const [key, value] of settings) {
    if (used.has(key) || key.startsWith('appManager.array.apps')) continue;
    if (key in NOTHING_TO_DO && NOTHING_TO_DO[key] === value) continue;
    unmapped.push({ setting: key, reason: reasonFor(key) });
  }
  return { config, unmapped, notes };
}

type Take = (key: string) => unknown;

function mapServer(take: Take, config: Record<string, unknown>, notes: string[]): void {
  const host = text(take('host'));
  if (host !== undefined) config.host = host;
  else notes.push('soketi listens on 0.0.0.0 by default; Herald listens on 127.0.0.1 unless "host" is set (put it behind your proxy, or set "host": "0.0.0.0")');
  const port = wholeNumber(take('port'));
  if (port !== undefined) config.port = port;
  if (flag(take('debug')) === true) config.logLevel = 'debug';
  const grace = wholeNumber(take('shutdownGracePeriod'));
  if (grace !== undefined) config.shutdownGraceSec = Math.ceil(grace / 1000);
  const metrics = flag(take('metrics.enabled'));
  if (metrics !== undefined) config.metricsEnabled = metrics;
  const metricsPort = wholeNumber(take('metrics.port'));
  if (metricsPort !== undefined) config.metricsPort = metricsPort;
  const metricsHost = text(take('metrics.host'));
  if (metricsHost !== undefined) config.metricsHost = metricsHost;
  const requestMb = wholeNumber(take('httpApi.requestLimitInMb'));
  if (requestMb !== undefined) config.maxRequestBodyBytes = Math.min(requestMb, 64) * KB * KB;
  const cert = text(take('ssl.certPath'));
  const key = text(take('ssl.keyPath'));
  if (cert !== undefined || key !== undefined) config.tls = { certFile: cert, keyFile: key };
}

/** soketi's adapter: local stays local; redis becomes Herald's Redis adapter at soketi's Redis (database.redis.*). */
function mapAdapter(take: Take, config: Record<string, unknown>, unmapped: Unmapped[]): void {
  const driver = text(take('adapter.driver')) ?? 'local';
  const redis = {
    host: text(take('database.redis.host')),
    port: wholeNumber(take('database.redis.port')),
    db: wholeNumber(take('database.redis.db')),
    username: text(take('database.redis.username')),
    password: text(take('database.redis.password')),
  };
  const prefix = text(take('adapter.redis.prefix'));
  if (driver === 'redis') {
    config.adapter = { driver: 'redis', redisUrl: redisUrl(redis), ...(prefix === undefined ? {} : { keyPrefix: prefix }) };
    return;
  }
  if (driver !== 'local') unmapped.push({ setting: 'adapter.driver', reason: `${reasonFor(`adapter.${driver}`)}; the config uses the local adapter (one node) — use the Redis adapter for several nodes` });
  for (const [field, value] of Object.entries(redis)) {
    if (value !== undefined) unmapped.push({ setting: `database.redis.${field}`, reason: 'Herald uses Redis only for its adapter, and the adapter here is not Redis' });
  }
  if (prefix !== undefined) unmapped.push({ setting: 'adapter.redis.prefix', reason: 'the adapter here is not Redis' });
}

/** soketi batches webhooks when webhooks.batching.enabled (for `duration` ms, 50 by default). */
function mapWebhookBatching(take: Take, config: Record<string, unknown>): void {
  const enabled = flag(take('webhooks.batching.enabled'));
  const duration = wholeNumber(take('webhooks.batching.duration'));
  if (enabled === true) config.webhookBatchMs = duration ?? 50;
  else if (enabled === false) config.webhookBatchMs = 0;
}
