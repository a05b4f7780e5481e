/**
 * Encoding of server→client frames and parsing of client→server frames (protocol §0, §2).
 * Server frames carry `data` as a JSON string, as Pusher sends it; `pusher:error` carries an
 * object, as observed from Pusher. Each frame is serialised once and fanned out as is.
 */
import type { PusherCode, SubscriptionErrorKind } from './codes.js';
import { fail, ok, type Result } from '../result.js';
import { jsonTooDeep, tooDeepMessage } from './json-depth.js';

const q = JSON.stringify;

export function eventFrame(event: string, channel: string, data: string, userId?: string): string {
  const base = `{"event":${q(event)},"channel":${q(channel)},"data":${q(data)}`;
  return userId === undefined ? `${base}}` : `${base},"user_id":${q(userId)}}`;
}

/** A client event is forwarded with `data` as the sender sent it (string or JSON value), already serialised. */
export function clientEventFrame(event: string, channel: string, dataJson: string, userId?: string): string {
  const base = `{"event":${q(event)},"channel":${q(channel)},"data":${dataJson}`;
  return userId === undefined ? `${base}}` : `${base},"user_id":${q(userId)}}`;
}

export function connectionEstablished(socketId: string, activityTimeoutSec: number): string {
  return `{"event":"pusher:connection_established","data":${q(q({ socket_id: socketId, activity_timeout: activityTimeoutSec }))}}`;
}

export function errorFrame(code: PusherCode | null, message: string, channel?: string): string {
  const data = q({ code: code === null ? null : code.code, message });
  return channel === undefined
    ? `{"event":"pusher:error","data":${data}}`
    : `{"event":"pusher:error","channel":${q(channel)},"data":${data}}`;
}

export function subscriptionSucceeded(channel: string, data: string = '{}'): string {
  return eventFrame('pusher_internal:subscription_succeeded', channel, data);
}

/** `pusher:subscription_error` `{type, error, status}` for one entry of the SubscriptionErrors table. */
export function subscriptionError(channel: string, kind: SubscriptionErrorKind, error: string): string {
  return eventFrame('pusher:subscription_error', channel, q({ type: kind.type, error, status: kind.status }));
}

/** Presence: a user's first connection joined the channel (§2.2). */
export function memberAdded(channel: string, userId: string, info: unknown): string {
  return eventFrame('pusher_internal:member_added', channel, q({ user_id: userId, user_info: info }));
}

/** Presence: a user's last connection left the channel (§2.2). */
export function memberRemoved(channel: string, userId: string): string {
  return eventFrame('pusher_internal:member_removed', channel, q({ user_id: userId }));
}

export function subscriptionCount(channel: string, count: number): string {
  return eventFrame('pusher_internal:subscription_count', channel, q({ subscription_count: count }));
}

/** A cache channel has no live cached event (§2.2); Herald sends no `data` (protocol/README.md). */
export function cacheMiss(channel: string): string {
  return `{"event":"pusher:cache_miss","channel":${q(channel)}}`;
}

/** `user_data` is the exact string that was signed (§5.3). */
export function signinSuccess(userData: string): string {
  return `{"event":"pusher:signin_success","data":${q(q({ user_data: userData }))}}`;
}

export interface WatchlistEvent {
  readonly name: 'online' | 'offline';
  readonly user_ids: readonly string[];
}

export function watchlistEvents(events: readonly WatchlistEvent[]): string {
  return `{"event":"pusher_internal:watchlist_events","data":${q(q({ events }))}}`;
}

export const PONG = '{"event":"pusher:pong","data":"{}"}';
export const PING = '{"event":"pusher:ping","data":"{}"}';

export interface InboundFrame {
  readonly event: string;
  readonly channel: string | undefined;
  readonly data: unknown;
}

export type ParseResult = Result<InboundFrame>;

/** Parses one client frame. `data` may be an object or a JSON string; strings that parse to objects are unwrapped. */
export function parseInbound(text: string): ParseResult {
  if (jsonTooDeep(text)) return fail(tooDeepMessage('Frame'));
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return fail('Frame is not valid JSON');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return fail('Frame must be a JSON object');
  }
  const obj = raw as Record<string, unknown>;
  if (typeof obj.event !== 'string' || obj.event.length === 0) {
    return fail('Frame has no "event" string');
  }
  if (obj.channel !== undefined && typeof obj.channel !== 'string') {
    return fail('"channel" must be a string');
  }
  return ok({ event: obj.event, channel: obj.channel, data: obj.data });
}

/** For pusher:* commands: `data` as an object, accepting the JSON-string form some clients send. */
export function commandData(data: unknown): Record<string, unknown> | undefined {
  if (typeof data === 'string') {
    if (jsonTooDeep(data)) return undefined;
    try {
      data = JSON.parse(data);
    } catch {
      return undefined;
    }
  }
  return typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as Record<string, unknown>) : undefined;
}
