/**
 * Channel queries (protocol §7.1): GET /channels, /channels/{name}, /channels/{name}/users,
 * and the `info` attributes shared with publishes. Answers come from the cluster, so every
 * node of a cluster answers the same.
 */
import { mapMaybe, type Maybe } from '../maybe.js';
import type { ChannelSummary } from '../adapter/occupancy.js';
import type { App } from '../apps/registry.js';
import { channelNameProblem, channelType } from '../channels/names.js';
import type { EventCache } from '../adapter/cache.js';
import type { Occupancy } from '../adapter/occupancy.js';
import type { Presence } from '../adapter/presence.js';
import { HttpError, Status } from './http.js';

const ATTRIBUTES = new Set(['user_count', 'subscription_count', 'cache']);

export function parseInfo(raw: unknown, where = ''): Set<string> {
  if (typeof raw !== 'string') throw new HttpError(Status.BAD_REQUEST, `${where}"info" must be a comma-separated string`);
  const attrs = new Set(raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0));
  for (const a of attrs) {
    if (!ATTRIBUTES.has(a)) throw new HttpError(Status.BAD_REQUEST, `${where}Unknown info attribute "${a}" (known: user_count, subscription_count, cache)`);
  }
  return attrs;
}

/**
 * The numeric attributes of one channel. With `strict`, an attribute that does not apply to
 * the channel's type is a 400 (channel info); otherwise it is left out (publish info).
 */
export function channelAttributes(channel: string, summary: ChannelSummary, info: ReadonlySet<string>, strict: boolean): Record<string, number> {
  const presence = channelType(channel).kind === 'presence';
  const out: Record<string, number> = {};
  if (info.has('user_count')) {
    if (presence) out.user_count = summary.users;
    else if (strict) throw new HttpError(Status.BAD_REQUEST, `info=user_count is only valid for presence channels`);
  }
  // Every channel type, presence included (issue 11, finding 9; reference §7.1 notes).
  if (info.has('subscription_count')) out.subscription_count = summary.subscriptions;
  return out;
}

/** The cluster-wide answers the channel queries read (adapter/occupancy.ts, presence.ts, cache.ts). */
export interface ChannelDirectory {
  readonly occupancy: Pick<Occupancy, 'channel' | 'channels'>;
  readonly presence: Pick<Presence, 'members'>;
  readonly cache: Pick<EventCache, 'get'>;
  readonly now: () => number;
}

export function listChannels(dir: ChannelDirectory, app: App, query: ReadonlyMap<string, string>): Maybe<unknown> {
  const prefix = query.get('filter_by_prefix') ?? '';
  const info = query.has('info') ? parseInfo(query.get('info')) : new Set<string>();
  if (info.has('user_count') && !prefix.startsWith('presence-')) {
    throw new HttpError(Status.BAD_REQUEST, 'info=user_count requires filter_by_prefix=presence-');
  }
  if (info.has('subscription_count') || info.has('cache')) {
    throw new HttpError(Status.BAD_REQUEST, 'GET /channels only supports info=user_count');
  }
  return mapMaybe(dir.occupancy.channels(app), (all) => {
    const channels: Record<string, Record<string, number>> = {};
    for (const [name, summary] of all) {
      if (summary.subscriptions <= 0 || !name.startsWith(prefix) || name.startsWith('#')) continue;
      channels[name] = info.has('user_count') ? { user_count: summary.users } : {};
    }
    return { channels };
  });
}

function checkedName(app: App, name: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(name);
  } catch {
    throw new HttpError(Status.BAD_REQUEST, 'Channel name in the path is not valid percent-encoding');
  }
  const problem = channelNameProblem(decoded, app.limits.maxChannelNameLength);
  if (problem) throw new HttpError(Status.BAD_REQUEST, problem);
  return decoded;
}

export function channelInfo(dir: ChannelDirectory, app: App, rawName: string, query: ReadonlyMap<string, string>): Maybe<unknown> {
  const channel = checkedName(app, rawName);
  const info = query.has('info') ? parseInfo(query.get('info')) : new Set<string>();
  if (info.has('cache') && !channelType(channel).cache) throw new HttpError(Status.BAD_REQUEST, 'info=cache is only valid for cache channels');
  const cache = info.has('cache') ? dir.cache.get(app, channel, app.cacheTtlSec) : undefined;
  return mapMaybe(dir.occupancy.channel(app, channel), (summary) => {
    const out: Record<string, unknown> = { occupied: summary.subscriptions > 0 };
    Object.assign(out, channelAttributes(channel, summary, info, true));
    if (!info.has('cache')) return out;
    return mapMaybe(cache, (cached) => {
      const now = dir.now();
      out.cache =
        cached === undefined
          ? null
          : { event: cached.event, data: cached.data, ttl: Math.max(0, Math.ceil(app.cacheTtlSec - (now - cached.storedAtMs) / 1000)) };
      return out;
    });
  });
}

export function channelUsers(dir: ChannelDirectory, app: App, rawName: string): Maybe<unknown> {
  const channel = checkedName(app, rawName);
  if (channelType(channel).kind !== 'presence') throw new HttpError(Status.BAD_REQUEST, `${channel} is not a presence channel`);
  return mapMaybe(dir.presence.members(app, channel), (ids) => ({ users: ids.map((id) => ({ id })) }));
}
