/**
 * What an open connection's frames do (protocol §2.1): one inbound text frame is parsed once
 * and handed to its handler; bad input gets a pusher:error and never throws. And what closing
 * undoes: the connection's channels, watchlist and sign-in.
 */
import { removeFromSetMap } from '../channels/state.js';
import { errorFrame, parseInbound, PONG } from '../wire/frames.js';
import { handleClientEvent } from './client-events.js';
import type { Connection } from './connection.js';
import type { CoreContext } from './context.js';
import { handleSignin, userSignedOut } from './signin.js';
import { handleSubscribe, handleUnsubscribe, leaveChannel } from './subscribe.js';

export function dispatch(ctx: CoreContext, conn: Connection, text: string): void {
  ctx.observer.received(conn.app, text.length);
  const parsed = parseInbound(text);
  if (!parsed.ok) {
    conn.socket.send(errorFrame(null, parsed.error));
    return;
  }
  const { event, channel, data } = parsed.value;
  switch (event) {
    case 'pusher:ping':
      conn.socket.send(PONG);
      return;
    case 'pusher:pong':
      return;
    case 'pusher:subscribe':
      handleSubscribe(ctx, conn, data);
      return;
    case 'pusher:unsubscribe':
      handleUnsubscribe(ctx, conn, data);
      return;
    case 'pusher:signin':
      handleSignin(ctx, conn, data);
      return;
    default:
      if (event.startsWith('client-')) handleClientEvent(ctx, conn, event, channel, data);
      else conn.socket.send(errorFrame(null, `Unsupported event "${event.slice(0, 64)}"`));
  }
}

/** A connection closed: it leaves every channel (its socket is gone: no topic to drop) and signs out. */
export function cleanup(ctx: CoreContext, conn: Connection): void {
  for (const [name, sub] of conn.channels) leaveChannel(ctx, conn, name, sub, false);
  conn.channels.clear();
  if (conn.user !== undefined) {
    const state = ctx.state(conn.app);
    for (const id of conn.user.watchlist) removeFromSetMap(state.watchers, id, conn);
    userSignedOut(ctx, conn);
  }
}
