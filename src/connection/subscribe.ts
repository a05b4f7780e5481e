/**
 * pusher:subscribe and pusher:unsubscribe (protocol §2, §4, §5): name rules, channel auth,
 * presence membership per user_id, the #server-to-user channel, cache replay and
 * subscription counts. Failures answer the subscriber with pusher:subscription_error on that
 * channel so pusher-js channel bindings and Laravel Echo's .error() fire (protocol/README.md).
 */
import type { App } from '../apps/registry.js';
import { channelNameProblem, channelType, needsAuth, USER_CHANNEL_PREFIX, type ChannelType } from '../channels/names.js';
import { identity, parseChannelData, presencePayload, type IdentityResult, type MemberIdentity } from '../channels/presence.js';
import type { ChannelState } from '../channels/state.js';
import { channelStringToSign, verifyAuth } from '../auth/socket-auth.js';
import { commandData, errorFrame, eventFrame, subscriptionError, subscriptionSucceeded } from '../wire/frames.js';
import type { Connection, Subscription } from './connection.js';
import type { Core } from './core.js';
import { topicOf } from './ports.js';

/** subscription_count goes out at most this often for channels above the threshold (§2.2). */
export const SUBSCRIPTION_COUNT_THROTTLE_MS = 5000;
export const SUBSCRIPTION_COUNT_THRESHOLD = 100;

type Check<T> = { ok: true; value: T } | { ok: false; type: string; error: string; status: number };

function reject<T>(type: string, error: string, status: number): Check<T> {
  return { ok: false, type, error, status };
}

export function handleSubscribe(core: Core, conn: Connection, rawData: unknown): void {
  const data = commandData(rawData);
  const channel = data?.channel;
  const problem = channelNameProblem(channel, conn.app.limits.maxChannelNameLength);
  if (data === undefined || problem !== undefined || typeof channel !== 'string') {
    conn.socket.send(errorFrame(null, `Invalid pusher:subscribe: ${problem ?? 'data must be an object'}`));
    return;
  }
  if (conn.channels.has(channel)) {
    conn.socket.send(errorFrame(null, `Existing subscription to channel ${channel}`, channel));
    return;
  }
  const type = channelType(channel);
  const check = authorize(core, conn, channel, type, data);
  if (!check.ok) {
    if (check.type === 'AuthError') core.deps.observer.authFailed(conn.app, 'channel');
    conn.socket.send(subscriptionError(channel, check.type, check.error, check.status));
    return;
  }
  join(core, conn, channel, type, check.value);
}

/** Checks the subscription; for presence channels the value is the member identity. */
function authorize(
  core: Core,
  conn: Connection,
  channel: string,
  type: ChannelType,
  data: Record<string, unknown>,
): Check<MemberIdentity | undefined> {
  if (type.kind === 'user') {
    const id = channel.slice(USER_CHANNEL_PREFIX.length);
    return conn.user?.id === id
      ? { ok: true, value: undefined }
      : reject('AuthError', `Only a connection signed in as user "${id}" may subscribe to ${channel}`, 401);
  }
  if (!needsAuth(type)) return { ok: true, value: undefined };
  const app = conn.app;
  const channelData = typeof data.channel_data === 'string' ? data.channel_data : undefined;
  // Some clients send "channel_data": null for private channels; only a real value is an error.
  if (type.kind !== 'presence' && data.channel_data != null) {
    return reject('AuthError', 'channel_data is only valid for presence channels', 400);
  }
  const toSign = channelStringToSign(conn.socketId, channel, channelData);
  const auth = verifyAuth(app, toSign, data.auth);
  if (!auth.ok) return reject('AuthError', auth.reason, 401);
  if (type.kind !== 'presence') return { ok: true, value: undefined };

  const member = presenceMember(conn, channelData);
  if (!member.ok) return member;
  const members = core.state(app).channels.get(channel)?.members;
  const max = app.limits.maxPresenceMembers;
  if (members !== undefined && !members.has(member.value.userId) && members.size >= max) {
    return reject('LimitReached', `Presence channel ${channel} is full: it already has ${max} members (maxPresenceMembers)`, 403);
  }
  return member;
}

const NO_LIMITS = { maxUserIdLength: Infinity, maxPresenceUserInfoBytes: Infinity };

/**
 * The member a presence subscription joins as (§5.2): the signed channel_data when given, else
 * the signed-in user. A malformed identity is an AuthError (the auth endpoint produced it); one
 * over the app's user id or user_info limits is LimitReached.
 */
function presenceMember(conn: Connection, channelData: string | undefined): Check<MemberIdentity> {
  let shape: IdentityResult;
  if (channelData !== undefined) shape = parseChannelData(channelData, NO_LIMITS);
  else if (conn.user !== undefined) shape = identity(conn.user.id, conn.user.info, NO_LIMITS);
  else return reject('AuthError', 'Presence subscription needs channel_data or a signed-in connection', 400);
  if (!shape.ok) return reject('AuthError', `Invalid channel_data: ${shape.reason}`, 400);
  const limited = identity(shape.member.userId, shape.member.info, conn.app.limits);
  if (!limited.ok) return reject('LimitReached', limited.reason, 400);
  return { ok: true, value: limited.member };
}

function join(core: Core, conn: Connection, channel: string, type: ChannelType, member: MemberIdentity | undefined): void {
  const app = conn.app;
  const state = core.state(app);
  const ch = state.channel(channel);
  conn.channels.set(channel, member === undefined ? { type } : { type, userId: member.userId });
  if (type.kind !== 'public' && type.kind !== 'user') conn.authorized = true;
  ch.subscribers++;
  conn.socket.subscribe(topicOf(app.id, channel));
  if (ch.subscribers === 1) core.deps.observer.channelOccupied(app, channel);

  if (member !== undefined) {
    const members = (ch.members ??= new Map());
    const existing = members.get(member.userId);
    if (existing !== undefined) {
      existing.conns++;
    } else {
      members.set(member.userId, { userId: member.userId, info: member.info, conns: 1 });
      const added = eventFrame(
        'pusher_internal:member_added',
        channel,
        JSON.stringify({ user_id: member.userId, user_info: member.info }),
      );
      core.broadcast(app, channel, added, conn);
      countDeliveries(core, app, ch.subscribers - 1, added.length);
      core.deps.observer.memberAdded(app, channel, member.userId);
    }
    conn.socket.send(subscriptionSucceeded(channel, presencePayload(members)));
  } else {
    conn.socket.send(subscriptionSucceeded(channel));
  }

  if (type.cache) replayCache(core, conn, channel);
  if (countsSubscriptions(type)) subscriptionCountChanged(core, app, channel, ch);
}

function replayCache(core: Core, conn: Connection, channel: string): void {
  const app = conn.app;
  const cached = core.state(app).cached(channel, core.deps.now(), app.cacheTtlSec);
  if (cached !== undefined) {
    const frame = eventFrame(cached.event, channel, cached.data);
    conn.socket.send(frame);
    countDeliveries(core, app, 1, frame.length);
  } else {
    conn.socket.send(`{"event":"pusher:cache_miss","channel":${JSON.stringify(channel)}}`);
    core.deps.observer.cacheMiss(app, channel);
  }
}

export function handleUnsubscribe(core: Core, conn: Connection, rawData: unknown): void {
  const channel = commandData(rawData)?.channel;
  if (typeof channel !== 'string') {
    conn.socket.send(errorFrame(null, 'Invalid pusher:unsubscribe: data.channel must be a string'));
    return;
  }
  const sub = conn.channels.get(channel);
  if (sub === undefined) return; // Pusher sends nothing for an unsubscribe of an unknown channel.
  conn.channels.delete(channel);
  leaveChannel(core, conn, channel, sub, true);
}

/**
 * Removes the connection from a channel's state. `unsubscribeSocket` is false when the
 * socket is already gone (the transport dropped its topics).
 */
export function leaveChannel(core: Core, conn: Connection, channel: string, sub: Subscription, unsubscribeSocket: boolean): void {
  const app = conn.app;
  const state = core.state(app);
  const ch = state.channels.get(channel);
  if (unsubscribeSocket) conn.socket.unsubscribe(topicOf(app.id, channel));
  if (ch === undefined) return;
  ch.subscribers--;
  if (sub.userId !== undefined && ch.members !== undefined) {
    const member = ch.members.get(sub.userId);
    if (member !== undefined && --member.conns === 0) {
      ch.members.delete(sub.userId);
      const removed = eventFrame('pusher_internal:member_removed', channel, JSON.stringify({ user_id: sub.userId }));
      core.broadcast(app, channel, removed);
      countDeliveries(core, app, ch.subscribers, removed.length);
      core.deps.observer.memberRemoved(app, channel, sub.userId);
    }
  }
  if (ch.subscribers <= 0) {
    if (ch.countTimer) clearTimeout(ch.countTimer);
    state.channels.delete(channel);
    core.deps.observer.channelVacated(app, channel);
    return;
  }
  if (countsSubscriptions(sub.type)) subscriptionCountChanged(core, app, channel, ch);
}

/** subscription_count is never sent on presence channels (§2.2) nor on the internal #server-to-user channel. */
function countsSubscriptions(type: ChannelType): boolean {
  return type.kind !== 'presence' && type.kind !== 'user';
}

function countDeliveries(core: Core, app: App, n: number, bytes: number): void {
  if (n > 0) core.deps.observer.delivered(app, n, bytes);
}

/**
 * pusher_internal:subscription_count on every change when the app enables it; above
 * SUBSCRIPTION_COUNT_THRESHOLD subscribers at most once per SUBSCRIPTION_COUNT_THROTTLE_MS
 * with the latest count (§2.2).
 */
function subscriptionCountChanged(core: Core, app: App, channel: string, ch: ChannelState): void {
  if (!app.enableSubscriptionCount) return;
  const now = core.deps.now();
  if (ch.subscribers <= SUBSCRIPTION_COUNT_THRESHOLD || now - ch.countSentAtMs >= SUBSCRIPTION_COUNT_THROTTLE_MS) {
    sendSubscriptionCount(core, app, channel, ch, now);
  } else if (ch.countTimer === undefined) {
    ch.countTimer = setTimeout(() => {
      ch.countTimer = undefined;
      if (core.state(app).channels.get(channel) === ch) sendSubscriptionCount(core, app, channel, ch, core.deps.now());
    }, SUBSCRIPTION_COUNT_THROTTLE_MS - (now - ch.countSentAtMs));
    ch.countTimer.unref();
  }
}

function sendSubscriptionCount(core: Core, app: App, channel: string, ch: ChannelState, now: number): void {
  if (ch.countTimer !== undefined) {
    clearTimeout(ch.countTimer); // this send carries the latest count; a pending one would repeat it
    ch.countTimer = undefined;
  }
  ch.countSentAtMs = now;
  const frame = eventFrame('pusher_internal:subscription_count', channel, JSON.stringify({ subscription_count: ch.subscribers }));
  core.broadcast(app, channel, frame);
  countDeliveries(core, app, ch.subscribers, frame.length);
  core.deps.observer.subscriptionCount(app, channel, ch.subscribers);
}
