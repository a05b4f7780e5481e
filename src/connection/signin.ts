/**
 * User authentication (protocol §5.3) and watchlist events (§2.2). pusher:signin carries
 * {auth, user_data}; the signature covers "<socket_id>::user::<user_data>" with the exact
 * user_data string. A failure answers pusher:error with code null (protocol/README.md).
 */
import type { App } from '../apps/registry.js';
import { channelNameProblem, USER_CHANNEL_PREFIX } from '../channels/names.js';
import { whenReady } from '../maybe.js';
import { addToSetMap, removeFromSetMap } from '../channels/state.js';
import { userStringToSign, verifyAuth } from '../auth/socket-auth.js';
import { Codes } from '../wire/codes.js';
import { commandData, errorFrame, signinSuccess, watchlistEvents, type WatchlistEvent } from '../wire/frames.js';
import { jsonTooDeep, tooDeepMessage } from '../wire/json-depth.js';
import type { Connection } from './connection.js';
import type { CoreContext } from './context.js';

function fail(ctx: CoreContext, conn: Connection, message: string, authFailure = false): void {
  if (authFailure) ctx.observer.authFailed(conn.app, 'signin', conn.socketId);
  conn.socket.send(errorFrame(null, `Sign-in failed: ${message}`));
}

interface UserData {
  id: string;
  info: unknown;
  watchlist: string[];
}

function parseUserData(raw: string, maxIdLength: number): UserData | string {
  if (jsonTooDeep(raw)) return tooDeepMessage('user_data');
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch {
    return 'user_data is not valid JSON';
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return 'user_data must be a JSON object';
  const { id, user_info: info, watchlist } = data as { id?: unknown; user_info?: unknown; watchlist?: unknown };
  if (typeof id !== 'string' || id.length === 0) return 'user_data.id must be a non-empty string';
  if (id.length > maxIdLength) return `user_data.id is ${id.length} characters; the limit is ${maxIdLength}`;
  // User ids use the channel-name characters (§4): the id becomes part of #server-to-user-{id}.
  if (channelNameProblem(`${USER_CHANNEL_PREFIX}${id}`, Infinity) !== undefined) {
    return 'user_data.id may only contain A-Z a-z 0-9 _ - = @ , . ;';
  }
  if (watchlist !== undefined && (!Array.isArray(watchlist) || watchlist.some((w) => typeof w !== 'string'))) {
    return 'user_data.watchlist must be a list of user id strings';
  }
  return { id, info, watchlist: (watchlist as string[] | undefined) ?? [] };
}

export function handleSignin(ctx: CoreContext, conn: Connection, rawData: unknown): void {
  const data = commandData(rawData);
  const userDataRaw = data?.user_data;
  if (data === undefined || typeof userDataRaw !== 'string') return fail(ctx, conn, 'data.user_data must be a JSON string');
  const app = conn.app;
  const auth = verifyAuth(app, userStringToSign(conn.socketId, userDataRaw), data.auth);
  if (!auth.ok) return fail(ctx, conn, auth.error, true);
  const user = parseUserData(userDataRaw, app.limits.maxUserIdLength);
  if (typeof user === 'string') return fail(ctx, conn, user);
  if (conn.user !== undefined) {
    if (conn.user.id !== user.id) return fail(ctx, conn, `connection is already signed in as "${conn.user.id}"`);
    conn.socket.send(signinSuccess(userDataRaw));
    return;
  }

  let watchlist: string[] = [];
  let truncated = false;
  if (app.enableWatchlist && user.watchlist.length > 0) {
    watchlist = [...new Set(user.watchlist)];
    truncated = watchlist.length > app.limits.maxWatchlistSize;
    if (truncated) watchlist = watchlist.slice(0, app.limits.maxWatchlistSize);
  }
  conn.user = { id: user.id, info: user.info, watchlist };
  conn.authorized = true;
  const state = ctx.state(app);
  addToSetMap(state.users, user.id, conn);
  conn.socket.send(signinSuccess(userDataRaw));
  if (truncated) {
    // Sign-in still succeeds; the first maxWatchlistSize ids are watched (§2.2 watchlist, code 4302).
    const limit = app.limits.maxWatchlistSize;
    conn.socket.send(errorFrame(Codes.WATCHLIST_LIMIT, `${Codes.WATCHLIST_LIMIT.message}: only the first ${limit} ids are watched`));
  }
  const onError = (err: unknown): void => ctx.clusterFailed(err);
  if (watchlist.length > 0) {
    for (const id of watchlist) addToSetMap(state.watchers, id, conn);
    whenReady(ctx.cluster.presence.onlineUsers(app, watchlist), (online) => sendWatchlistStatus(conn, watchlist, online), onError);
  }
  whenReady(ctx.cluster.presence.userChanged(app, user.id, 1), (cameOnline) => cameOnline && notifyWatchers(ctx, app, user.id, 'online'), onError);
}

function sendWatchlistStatus(conn: Connection, watchlist: readonly string[], online: ReadonlySet<string>): void {
  if (conn.state !== 'open') return;
  const events: WatchlistEvent[] = [];
  const on = watchlist.filter((id) => online.has(id));
  const off = watchlist.filter((id) => !online.has(id));
  if (on.length > 0) events.push({ name: 'online', user_ids: on });
  if (off.length > 0) events.push({ name: 'offline', user_ids: off });
  conn.socket.send(watchlistEvents(events));
}

/** Tells this node's watchers of `userId` that it came online or went offline. */
export function notifyWatchers(ctx: CoreContext, app: App, userId: string, name: 'online' | 'offline'): void {
  const watchers = ctx.state(app).watchers.get(userId);
  if (watchers === undefined || watchers.size === 0) return;
  const frame = watchlistEvents([{ name, user_ids: [userId] }]);
  for (const w of watchers) w.socket.send(frame);
  ctx.observer.delivered(app, watchers.size, frame.length);
}

/** A signed-in connection closed: the user goes offline when it was its last one cluster-wide. */
export function userSignedOut(ctx: CoreContext, conn: Connection): void {
  const user = conn.user;
  if (user === undefined) return;
  const app = conn.app;
  removeFromSetMap(ctx.state(app).users, user.id, conn);
  whenReady(
    ctx.cluster.presence.userChanged(app, user.id, -1),
    (wentOffline) => wentOffline && notifyWatchers(ctx, app, user.id, 'offline'),
    (err) => ctx.clusterFailed(err),
  );
}
