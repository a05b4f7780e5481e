/**
 * `herald import reverb`: Laravel Reverb's `REVERB_*` variables (as read by the default
 * config/reverb.php) → a Herald config with one app. Reverb's defaults that differ from Herald's
 * and matter to clients (listen port 8080, client events accepted from channel members) are
 * written explicitly. Settings that live only in config/reverb.php (allowed_origins, TLS options,
 * more than one app) cannot be seen from the environment: a note says to carry them by hand.
 */
import { flag, ImportError, redisUrl, text, type Translation, type Unmapped, wholeNumber } from './translation.js';

/** Variables that are not server settings, and why nothing is needed for them. */
const NOT_SERVER_SETTINGS: Readonly<Record<string, string>> = {
  REVERB_HOST: 'the public host Laravel and Echo connect to, not a server setting: point it at Herald',
  REVERB_PORT: 'the public port Laravel and Echo connect to, not a server setting: point it at Herald',
  REVERB_SCHEME: 'the scheme Laravel and Echo connect with, not a server setting',
  REVERB_SERVER_PATH: 'Herald has no path prefix setting: WebSocket URLs with any prefix before /app/{key} are accepted; rewrite REST paths in your proxy',
  REVERB_SCALING_CHANNEL: 'Herald nodes share Redis under adapter.keyPrefix; Reverb and Herald nodes cannot serve one cluster together',
  REVERB_PULSE_INGEST_INTERVAL: 'Laravel Pulse ingestion: Herald exposes Prometheus metrics on metricsPort instead',
  REVERB_TELESCOPE_INGEST_INTERVAL: 'Laravel Telescope ingestion: Herald exposes Prometheus metrics on metricsPort instead',
  REVERB_APP_PING_INTERVAL: 'Herald pings a connection after activityTimeoutSec of silence, the value it also tells clients; it has no separate ping interval',
  REVERB_ALLOWED_ORIGINS: 'Herald does not check the Origin header: every origin may connect (as with Reverb\'s default ["*"])',
};

const RATE_LIMITING = /^REVERB_APP_RATE_LIMIT/;

export function importReverb(env: Readonly<Record<string, string | undefined>>): Translation {
  const unmapped: Unmapped[] = [];
  const notes: string[] = [];
  const used = new Set<string>();
  const take = (name: string): string | undefined => {
    used.add(name);
    return text(env[name]);
  };
  const app = reverbApp(take, notes);
  const config: Record<string, unknown> = {};
  const server = take('REVERB_SERVER');
  if (server !== undefined && server !== 'reverb') unmapped.push({ setting: 'REVERB_SERVER', reason: `names server "${server}"; only Reverb's own server is known` });

  const host = take('REVERB_SERVER_HOST');
  if (host !== undefined) config.host = host;
  else notes.push('Reverb listens on 0.0.0.0 by default; Herald listens on 127.0.0.1 unless "host" is set (put it behind your proxy, or set "host": "0.0.0.0")');
  config.port = wholeNumber(take('REVERB_SERVER_PORT')) ?? 8080;

  const requestSize = wholeNumber(take('REVERB_MAX_REQUEST_SIZE'));
  if (requestSize !== undefined) config.maxRequestBodyBytes = atLeast(requestSize, 1024, 'REVERB_MAX_REQUEST_SIZE', 'maxRequestBodyBytes', notes);
  const messageSize = wholeNumber(take('REVERB_APP_MAX_MESSAGE_SIZE'));
  if (messageSize !== undefined) {
    config.maxFrameBytes = atLeast(messageSize, 1024, 'REVERB_APP_MAX_MESSAGE_SIZE', 'maxFrameBytes', notes);
    notes.push('REVERB_APP_MAX_MESSAGE_SIZE → maxFrameBytes, which is server-wide in Herald; event data is also bounded per app by limits.maxPayloadBytes (10240)');
  }
  const activity = wholeNumber(take('REVERB_APP_ACTIVITY_TIMEOUT'));
  if (activity !== undefined) config.activityTimeoutSec = activity;

  if (flag(take('REVERB_SCALING_ENABLED')) === true) config.adapter = { driver: 'redis', redisUrl: laravelRedisUrl(env) };
  config.apps = [app];

  for (const name of Object.keys(env)) {
    if (!name.startsWith('REVERB_') || used.has(name) || text(env[name]) === undefined) continue;
    const reason = NOT_SERVER_SETTINGS[name] ?? (RATE_LIMITING.test(name) ? rateLimitReason : 'not a Reverb variable this importer knows');
    unmapped.push({ setting: name, reason });
  }
  notes.push(
    'config/reverb.php settings are not in the environment and were not read: allowed_origins (Herald has no Origin check), ' +
      'servers.reverb.options.tls (set "tls": {"certFile", "keyFile"} or terminate TLS at a proxy), and any apps beyond the first (add them to "apps")',
  );
  return { config, unmapped, notes };
}

const rateLimitReason =
  'Herald limits client events per connection per second (limits.maxClientEventsPerSec, default 10; over it the event is dropped with a pusher:error and the connection stays open); it has no attempts/decay window and never disconnects for it';

function reverbApp(take: (name: string) => string | undefined, notes: string[]): Record<string, unknown> {
  const app: Record<string, unknown> = { id: take('REVERB_APP_ID'), key: take('REVERB_APP_KEY'), secret: take('REVERB_APP_SECRET') };
  const missing = ['REVERB_APP_ID', 'REVERB_APP_KEY', 'REVERB_APP_SECRET'].filter((_, i) => Object.values(app)[i] === undefined);
  if (missing.length > 0) throw new ImportError(`the environment has no ${missing.join(', ')}; Reverb's app needs all three`);
  const from = take('REVERB_APP_ACCEPT_CLIENT_EVENTS_FROM') ?? 'members';
  if (from === 'none') app.enableClientEvents = false;
  else {
    app.enableClientEvents = true;
    if (from !== 'members') {
      notes.push(`REVERB_APP_ACCEPT_CLIENT_EVENTS_FROM is "${from}"; Herald accepts client events only from a connection subscribed to the private or presence channel (as Reverb's "members")`);
    }
  }
  const maxConnections = wholeNumber(take('REVERB_APP_MAX_CONNECTIONS'));
  if (maxConnections !== undefined) app.limits = { maxConnections };
  else notes.push('Reverb sets no connection limit by default; Herald limits each app to limits.maxConnections (10000) — raise it if needed');
  return app;
}

function atLeast(value: number, min: number, from: string, to: string, notes: string[]): number {
  if (value >= min) return value;
  notes.push(`${from} is ${value}; Herald's ${to} is at least ${min}, so ${min} was written`);
  return min;
}

/** Laravel's default Redis connection: REDIS_URL when set, else REDIS_HOST/PORT/USERNAME/PASSWORD/DB. */
function laravelRedisUrl(env: Readonly<Record<string, string | undefined>>): string {
  const url = text(env.REDIS_URL);
  if (url !== undefined) return url;
  return redisUrl({
    host: text(env.REDIS_HOST),
    port: wholeNumber(env.REDIS_PORT),
    db: wholeNumber(env.REDIS_DB),
    username: text(env.REDIS_USERNAME),
    password: text(env.REDIS_PASSWORD),
  });
}
