/**
 * soketi's array app manager (`appManager.array.apps`, plus `appManager.array.apps.N.field` keys
 * such as the `SOKETI_DEFAULT_APP_*` variables set) → Herald apps. soketi's per-app limits fall
 * back to its server-wide limits (`eventLimits.*`, `presence.*`, `channelLimits.*`), so those are
 * passed in as `defaults` and written into every app that does not set its own. A negative value
 * is soketi's "no limit" (or "use the server default"); Herald's limits are always finite, so
 * Herald's default stays and a note says so.
 */
import { WEBHOOK_EVENT_TYPES } from '../config/config.js';
import { flag, text, type Unmapped, wholeNumber } from './translation.js';

/** soketi's own fallback app when its config names none: its credentials are public. */
const SOKETI_DEFAULT_APP = { id: 'app-id', key: 'app-key', secret: 'app-secret' };

/** soketi per-app limit → Herald `limits` key and the factor from soketi's unit (KB → bytes). */
const LIMITS: ReadonlyArray<[string, string, number]> = [
  ['maxConnections', 'maxConnections', 1],
  ['maxClientEventsPerSecond', 'maxClientEventsPerSec', 1],
  ['maxPresenceMembersPerChannel', 'maxPresenceMembers', 1],
  ['maxPresenceMemberSizeInKb', 'maxPresenceUserInfoBytes', 1024],
  ['maxChannelNameLength', 'maxChannelNameLength', 1],
  ['maxEventChannelsAtOnce', 'maxChannelsPerTrigger', 1],
  ['maxEventNameLength', 'maxEventNameLength', 1],
  ['maxEventPayloadInKb', 'maxPayloadBytes', 1024],
  ['maxEventBatchSize', 'maxBatchSize', 1],
];

const HANDLED = new Set([
  'id', 'key', 'secret', 'enabled', 'enableClientMessages', 'enableUserAuthentication', 'webhooks',
  'maxBackendEventsPerSecond', 'maxReadRequestsPerSecond', ...LIMITS.map(([from]) => from),
]);

export interface AppsContext {
  /** soketi app-field name → server-wide value to use where the app sets none. */
  readonly defaults: Readonly<Record<string, number>>;
  /** Seconds, from soketi's `userAuthenticationTimeout` (ms), when set. */
  readonly userAuthTimeoutSec: number | undefined;
  readonly unmapped: Unmapped[];
  readonly notes: string[];
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The apps as soketi would see them: the array (or its default app) with dotted overrides applied. */
export function soketiApps(settings: ReadonlyMap<string, unknown>): Record<string, unknown>[] {
  const listed = settings.get('appManager.array.apps');
  const apps = (Array.isArray(listed) ? listed : [SOKETI_DEFAULT_APP]).map((a) => (isPlainObject(a) ? { ...a } : {}));
  for (const [key, value] of settings) {
    const m = /^appManager\.array\.apps\.(\d+)\.(.+)$/.exec(key);
    if (!m) continue;
    const i = Number(m[1]);
    while (apps.length <= i) apps.push({});
    (apps[i] as Record<string, unknown>)[m[2] as string] = value;
  }
  return apps;
}

export function convertApps(apps: readonly Record<string, unknown>[], ctx: AppsContext): Record<string, unknown>[] {
  return apps.map((app, i) => convertApp(app, `appManager.array.apps[${i}]`, ctx));
}

function convertApp(app: Record<string, unknown>, at: string, ctx: AppsContext): Record<string, unknown> {
  const out: Record<string, unknown> = { id: text(app.id), key: text(app.key), secret: text(app.secret) };
  const enabled = flag(app.enabled);
  if (enabled === false) out.enabled = false;
  if (flag(app.enableClientMessages) === true) out.enableClientEvents = true;
  if (flag(app.enableUserAuthentication) === true) {
    out.requireAuthorizedConnections = true;
    if (ctx.userAuthTimeoutSec !== undefined) out.authorizedConnectionTimeoutSec = ctx.userAuthTimeoutSec;
    ctx.notes.push(
      `${at}.enableUserAuthentication → requireAuthorizedConnections: Herald also counts a private or presence subscription as authorizing a connection, where soketi requires pusher:signin`,
    );
  }
  const limits = convertLimits(app, at, ctx);
  if (Object.keys(limits).length > 0) out.limits = limits;
  const hooks = Array.isArray(app.webhooks) ? app.webhooks.map((w, j) => convertWebhook(w, `${at}.webhooks[${j}]`, ctx.unmapped)) : [];
  const kept = hooks.filter((w): w is Record<string, unknown> => w !== undefined);
  if (kept.length > 0) out.webhooks = kept;
  for (const field of Object.keys(app)) {
    if (!HANDLED.has(field)) ctx.unmapped.push({ setting: `${at}.${field}`, reason: 'no Herald app setting corresponds' });
  }
  return out;
}

function convertLimits(app: Record<string, unknown>, at: string, ctx: AppsContext): Record<string, number> {
  const limits: Record<string, number> = {};
  for (const [from, to, factor] of LIMITS) {
    const own = app[from] === undefined || app[from] === null ? undefined : wholeNumber(app[from]);
    if (app[from] !== undefined && app[from] !== null && own === undefined) {
      ctx.unmapped.push({ setting: `${at}.${from}`, reason: 'is not a number' });
    }
    const value = own !== undefined && own >= 0 ? own : ctx.defaults[from];
    if (value !== undefined && value >= 0) limits[to] = value * factor;
    else if (own !== undefined && own < 0 && (from === 'maxConnections' || from === 'maxClientEventsPerSecond')) {
      ctx.notes.push(`${at}.${from} is ${own} (no limit in soketi); Herald keeps its finite default limits.${to} — raise it if needed`);
    }
  }
  const rest = restBudget(app, at, ctx);
  if (rest !== undefined) limits.maxRestRequestsPerSec = rest;
  return limits;
}

/**
 * soketi limits published events and read requests separately; Herald has one per-app REST budget
 * covering both, so it becomes their sum when both are finite, and stays Herald's default otherwise.
 */
function restBudget(app: Record<string, unknown>, at: string, ctx: AppsContext): number | undefined {
  const backend = wholeNumber(app.maxBackendEventsPerSecond);
  const read = wholeNumber(app.maxReadRequestsPerSecond);
  if (backend === undefined && read === undefined) return undefined;
  if (backend !== undefined && read !== undefined && backend >= 0 && read >= 0) {
    ctx.notes.push(`${at}: maxBackendEventsPerSecond + maxReadRequestsPerSecond → one REST budget, limits.maxRestRequestsPerSec = ${backend + read}`);
    return Math.max(1, backend + read);
  }
  for (const field of ['maxBackendEventsPerSecond', 'maxReadRequestsPerSecond'] as const) {
    if (app[field] !== undefined) {
      ctx.unmapped.push({
        setting: `${at}.${field}`,
        reason: 'Herald has one REST budget per app (limits.maxRestRequestsPerSec, publishes and reads together) and it is finite; it keeps its default unless both soketi limits are set',
      });
    }
  }
  return undefined;
}

const WEBHOOK_FIELDS = new Set(['url', 'event_types', 'filter', 'headers']);

/** One soketi webhook → one Herald target; undefined (and reported) when it has no HTTP url. */
function convertWebhook(hook: unknown, at: string, unmapped: Unmapped[]): Record<string, unknown> | undefined {
  if (!isPlainObject(hook)) {
    unmapped.push({ setting: at, reason: 'is not an object' });
    return undefined;
  }
  for (const field of Object.keys(hook)) {
    if (!WEBHOOK_FIELDS.has(field)) {
      const why = field.startsWith('lambda') ? 'Herald sends webhooks over HTTP only, not to AWS Lambda' : 'no Herald webhook setting corresponds';
      unmapped.push({ setting: `${at}.${field}`, reason: why });
    }
  }
  const url = text(hook.url);
  if (url === undefined) {
    unmapped.push({ setting: at, reason: 'has no url (a Lambda-only webhook); it was left out' });
    return undefined;
  }
  const out: Record<string, unknown> = { url };
  if (Array.isArray(hook.event_types)) {
    const known = hook.event_types.filter((t): t is (typeof WEBHOOK_EVENT_TYPES)[number] => (WEBHOOK_EVENT_TYPES as readonly unknown[]).includes(t));
    for (const t of hook.event_types) {
      if (!known.includes(t as never)) unmapped.push({ setting: `${at}.event_types: ${String(t)}`, reason: 'Herald sends no such webhook event' });
    }
    out.events = known;
  }
  const filter = isPlainObject(hook.filter) ? hook.filter : {};
  const prefix = text(filter.channel_name_starts_with);
  if (prefix !== undefined) out.filterPrefix = prefix;
  if (text(filter.channel_name_ends_with) !== undefined) {
    unmapped.push({
      setting: `${at}.filter.channel_name_ends_with`,
      reason: 'Herald filters webhooks by channel-name prefix only; this target now gets events for every channel the prefix lets through',
    });
  }
  if (isPlainObject(hook.headers)) out.headers = Object.fromEntries(Object.entries(hook.headers).map(([k, v]) => [k, String(v)]));
  return out;
}
