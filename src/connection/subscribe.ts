/**
 * pusher:subscribe and pusher:unsubscribe (protocol §2, §4, §5): name rules, channel auth,
 * presence membership per user_id, the #server-to-user channel, cache replay and
 * subscription counts. Failures answer the subscriber with pusher:subscription_error on that
 * channel so pusher-js channel bindings and Laravel Echo's .error() fire (protocol/README.md).
 */
import { whenAll, whenReady } from '../maybe.js';
import type { PresenceJoin } from '../adapter/presence.js';
import type { App } from '../apps/registry.js';
import { channelNameProblem, channelType, needsAuth, USER_CHANNEL_PREFIX, type ChannelType } from '../channels/names.js';
import { identity, parseChannelData, presencePayload, type IdentityResult, type MemberIdentity } from '../channels/presence.js';
import type { ChannelState } from '../channels/state.js';
import { channelStringToSign, verifyAuth } from '../auth/socket-auth.js';
import { SubscriptionErrors, type SubscriptionErrorKind } from '../wire/codes.js';
import { cacheMiss, commandData, errorFrame, eventFrame, memberAdded, memberRemoved, subscriptionCount, subscriptionError, subscriptionSucceeded } from '../wire/frames.js';
import { fail, ok, type Result } from '../result.js';
import type { Connection, Subscription } from './connection.js';
import type { CoreContext } from './context.js';
import { topicOf } from './ports.js';

/** subscription_count goes out at most this often for channels above the threshold (§2.2). */
export const SUBSCRIPTION_COUNT_THROTTLE_MS = 5000;
export const SUBSCRIPTION_COUNT_THRESHOLD = 100;

/** Why a subscription is refused: an entry of the SubscriptionErrors table and the message. */
interface Refusal {
  readonly kind: SubscriptionErrorKind;
  readonly error: string;
}

type Check<T> = Result<T, Refusal>;

function reject(kind: SubscriptionErrorKind, error: string): { readonly ok: false; readonly error: Refusal } {
  return fail({ kind, error });
}

export function handleSubscribe(ctx: CoreContext, conn: Connection, rawData: unknown): void {
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
  const limited = subscribeLimit(ctx, conn, type);
  if (limited !== undefined) {
    conn.socket.send(subscriptionError(channel, limited.kind, limited.error));
    return;
  }
  const check = authorize(conn, channel, type, data);
  if (!check.ok) {
    if (check.error.kind === SubscriptionErrors.BAD_AUTH) ctx.observer.authFailed(conn.app, 'channel', conn.socketId);
    conn.socket.send(subscriptionError(channel, check.error.kind, check.error.error));
    return;
  }
  join(ctx, conn, channel, type, check.value);
}

/**
 * What one client may hold and what it may make the app pay for without credentials (issue 11):
 * at most maxChannelsPerConnection channels per connection, and public subscriptions (which
 * can replay a counted cache event, or trigger counted webhooks and subscription counts) within
 * the client address's budget.
 */
function subscribeLimit(ctx: CoreContext, conn: Connection, type: ChannelType): Refusal | undefined {
  const max = conn.app.limits.maxChannelsPerConnection;
  if (conn.channels.size >= max) {
    return { kind: SubscriptionErrors.TOO_MANY_CHANNELS, error: `This connection is subscribed to ${conn.channels.size} channels; the limit is ${max} (maxChannelsPerConnection)` };
  }
  if (type.kind === 'public' && !ctx.addresses.publicSubscribe(conn.address)) {
    ctx.observer.addressLimited(conn.app, 'public_subscribes');
    return { kind: SubscriptionErrors.SUBSCRIBING_TOO_FAST, error: 'Too many public subscriptions from this address; slow down and retry' };
  }
  return undefined;
}

/** Checks the subscription; for presence channels the value is the member identity. */
function authorize(
  conn: Connection,
  channel: string,
  type: ChannelType,
  data: Record<string, unknown>,
): Check<MemberIdentity | undefined> {
  if (type.kind === 'user') {
    const id = channel.slice(USER_CHANNEL_PREFIX.length);
    return conn.user?.id === id
      ? ok(undefined)
      : reject(SubscriptionErrors.BAD_AUTH, `Only a connection signed in as user "${id}" may subscribe to ${channel}`);
  }
  if (!needsAuth(type)) return ok(undefined);
  const app = conn.app;
  const channelData = typeof data.channel_data === 'string' ? data.channel_data : undefined;
  // Some clients send "channel_data": null for private channels; only a real value is an error.
  if (type.kind !== 'presence' && data.channel_data != null) {
    return reject(SubscriptionErrors.BAD_CHANNEL_DATA, 'channel_data is only valid for presence channels');
  }
  const toSign = channelStringToSign(conn.socketId, channel, channelData);
  const auth = verifyAuth(app, toSign, data.auth);
  if (!auth.ok) return reject(SubscriptionErrors.BAD_AUTH, auth.error);
  if (type.kind !== 'presence') return ok(undefined);

  return presenceMember(conn, channelData);
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
  else return reject(SubscriptionErrors.BAD_CHANNEL_DATA, 'Presence subscription needs channel_data or a signed-in connection');
  if (!shape.ok) return reject(SubscriptionErrors.BAD_CHANNEL_DATA, `Invalid channel_data: ${shape.error}`);
  const limited = identity(shape.value.userId, shape.value.info, conn.app.limits);
  if (!limited.ok) return reject(SubscriptionErrors.MEMBER_TOO_LARGE, limited.error);
  return limited;
}

/**
 * Adds the connection to a channel. Local state changes at once (the socket joins the topic,
 * so nothing published after this point is missed); the cluster-wide answers (count, roster,
 * cached event) may arrive later from the cluster, and subscription_succeeded waits for them.
 */
function join(ctx: CoreContext, conn: Connection, channel: string, type: ChannelType, member: MemberIdentity | undefined): void {
  const app = conn.app;
  const cluster = ctx.cluster;
  const ch = ctx.state(app).channel(channel);
  const sub: Subscription = member === undefined ? { type } : { type, userId: member.userId };
  conn.channels.set(channel, sub);
  if (type.kind !== 'public' && type.kind !== 'user') conn.authorized = true;
  ch.subscribers++;
  conn.socket.subscribe(topicOf(app.id, channel));
  if (ch.subscribers === 1) ch.watching = cluster.broker.watch(app, channel);
  const count = cluster.occupancy.subscriptionChanged(app, channel, 1);
  const joined = member === undefined ? undefined : cluster.presence.joined(app, channel, member.userId, member.info);
  whenAll(
    [ch.watching, count, joined] as const,
    ([, n, presence]) => {
      if (n === 1) ctx.observer.channelOccupied(app, channel);
      if (conn.channels.get(channel) !== sub) return; // left before the cluster answered; leaveChannel undid it
      if (presence !== undefined && !admitMember(ctx, conn, channel, sub, presence)) return;
      conn.socket.send(presence === undefined ? subscriptionSucceeded(channel) : subscriptionSucceeded(channel, presencePayload(presence.members)));
      if (type.cache) replayCache(ctx, conn, channel);
      if (countsSubscriptions(type)) subscriptionCountChanged(ctx, app, channel, n);
    },
    (err) => ctx.clusterFailed(err),
  );
}

/**
 * Completes a presence join: refuses it when the roster is over maxPresenceMembers (the
 * member is taken out again without any member_removed), else announces a new member.
 */
function admitMember(ctx: CoreContext, conn: Connection, channel: string, sub: Subscription, joined: PresenceJoin): boolean {
  const app = conn.app;
  const userId = sub.userId as string;
  const max = app.limits.maxPresenceMembers;
  if (joined.first && joined.members.size > max) {
    conn.channels.delete(channel);
    leaveChannel(ctx, conn, channel, sub, true, true);
    conn.socket.send(subscriptionError(channel, SubscriptionErrors.PRESENCE_FULL, `Presence channel ${channel} is full: it already has ${max} members (maxPresenceMembers)`));
    return false;
  }
  if (joined.first) {
    const info = joined.members.get(userId) ?? null;
    ctx.broadcastCluster(app, channel, memberAdded(channel, userId, info), conn);
    ctx.observer.memberAdded(app, channel, userId);
  }
  return true;
}

function replayCache(ctx: CoreContext, conn: Connection, channel: string): void {
  const app = conn.app;
  whenReady(
    ctx.cluster.cache.get(app, channel, app.cacheTtlSec),
    (cached) => {
      if (conn.state !== 'open' || !conn.channels.has(channel)) return;
      if (cached !== undefined) {
        const frame = eventFrame(cached.event, channel, cached.data);
        conn.socket.send(frame);
        ctx.observer.delivered(app, 1, frame.length);
      } else {
        conn.socket.send(cacheMiss(channel));
        ctx.observer.cacheMiss(app, channel);
      }
    },
    (err) => ctx.clusterFailed(err),
  );
}

export function handleUnsubscribe(ctx: CoreContext, conn: Connection, rawData: unknown): void {
  const channel = commandData(rawData)?.channel;
  if (typeof channel !== 'string') {
    conn.socket.send(errorFrame(null, 'Invalid pusher:unsubscribe: data.channel must be a string'));
    return;
  }
  const sub = conn.channels.get(channel);
  if (sub === undefined) return; // Pusher sends nothing for an unsubscribe of an unknown channel.
  conn.channels.delete(channel);
  leaveChannel(ctx, conn, channel, sub, true);
}

/**
 * Removes the connection from a channel. `unsubscribeSocket` is false when the socket is
 * already gone (the transport dropped its topics); `silent` skips member_removed for a member
 * that was never announced.
 */
export function leaveChannel(ctx: CoreContext, conn: Connection, channel: string, sub: Subscription, unsubscribeSocket: boolean, silent = false): void {
  const app = conn.app;
  const cluster = ctx.cluster;
  const state = ctx.state(app);
  const ch = state.channels.get(channel);
  if (unsubscribeSocket) conn.socket.unsubscribe(topicOf(app.id, channel));
  if (ch === undefined) return;
  if (--ch.subscribers <= 0) {
    ch.cancelCount?.();
    state.channels.delete(channel);
    cluster.broker.unwatch(app, channel);
  }
  const count = cluster.occupancy.subscriptionChanged(app, channel, -1);
  const left = sub.userId === undefined ? false : cluster.presence.left(app, channel, sub.userId);
  whenAll(
    [count, left] as const,
    ([n, last]) => {
      if (last && !silent && sub.userId !== undefined) {
        ctx.broadcastCluster(app, channel, memberRemoved(channel, sub.userId));
        ctx.observer.memberRemoved(app, channel, sub.userId);
      }
      if (n === 0) ctx.observer.channelVacated(app, channel);
      else if (countsSubscriptions(sub.type)) subscriptionCountChanged(ctx, app, channel, n);
    },
    (err) => ctx.clusterFailed(err),
  );
}

/** subscription_count is never sent on presence channels (§2.2) nor on the internal #server-to-user channel. */
function countsSubscriptions(type: ChannelType): boolean {
  return type.kind !== 'presence' && type.kind !== 'user';
}

/**
 * pusher_internal:subscription_count with the cluster-wide count on every change when the app
 * enables it; above SUBSCRIPTION_COUNT_THRESHOLD subscribers at most once per
 * SUBSCRIPTION_COUNT_THROTTLE_MS per node, with the latest count (§2.2).
 */
function subscriptionCountChanged(ctx: CoreContext, app: App, channel: string, count: number): void {
  if (!app.enableSubscriptionCount) return;
  const ch = ctx.state(app).channels.get(channel);
  const now = ctx.clock.now();
  if (ch === undefined || count <= SUBSCRIPTION_COUNT_THRESHOLD || now - ch.countSentAtMs >= SUBSCRIPTION_COUNT_THROTTLE_MS) {
    sendSubscriptionCount(ctx, app, channel, count, ch, now);
    return;
  }
  ch.latestCount = count;
  if (ch.cancelCount === undefined) {
    ch.cancelCount = ctx.clock.after(SUBSCRIPTION_COUNT_THROTTLE_MS - (now - ch.countSentAtMs), () => {
      ch.cancelCount = undefined;
      if (ctx.state(app).channels.get(channel) === ch) sendSubscriptionCount(ctx, app, channel, ch.latestCount, ch, ctx.clock.now());
    });
  }
}

function sendSubscriptionCount(ctx: CoreContext, app: App, channel: string, count: number, ch: ChannelState | undefined, now: number): void {
  if (ch !== undefined) {
    if (ch.cancelCount !== undefined) {
      ch.cancelCount(); // this send carries the latest count; a pending one would repeat it
      ch.cancelCount = undefined;
    }
    ch.countSentAtMs = now;
  }
  ctx.broadcastCluster(app, channel, subscriptionCount(channel, count));
  ctx.observer.subscriptionCount(app, channel, count);
}
