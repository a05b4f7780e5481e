/**
 * Client events (protocol §6): `client-` names on private and presence channels the sender is
 * subscribed to, when the app enables them; never echoed to the sender; presence events carry
 * the sender's user_id; rate limited per connection with pusher:error 4301, connection kept.
 */
import { Codes } from '../wire/codes.js';
import { clientEventFrame, errorFrame } from '../wire/frames.js';
import type { Connection } from './connection.js';
import type { CoreContext } from './context.js';

export const CLIENT_EVENTS_DISABLED =
  'To send client events, you must enable this feature in the Settings page of your dashboard.';

function refuse(conn: Connection, message: string, channel?: string): void {
  conn.socket.send(errorFrame(null, message, channel));
}

/** Fixed one-second window per connection; returns false when this event is over the limit. */
function withinRate(conn: Connection, now: number, perSec: number): boolean {
  if (now - conn.clientEventWindowStartMs >= 1000) {
    conn.clientEventWindowStartMs = now;
    conn.clientEventsInWindow = 0;
  }
  return ++conn.clientEventsInWindow <= perSec;
}

export function handleClientEvent(ctx: CoreContext, conn: Connection, event: string, channel: string | undefined, data: unknown): void {
  const app = conn.app;
  if (!app.enableClientEvents) return refuse(conn, CLIENT_EVENTS_DISABLED, channel);
  if (event.length > app.limits.maxEventNameLength) {
    return refuse(conn, `Event name is ${event.length} characters; the limit is ${app.limits.maxEventNameLength}`, channel);
  }
  if (channel === undefined) return refuse(conn, `Client event ${event} needs a channel`);
  const sub = conn.channels.get(channel);
  if (sub === undefined) return refuse(conn, `Client event rejected: not subscribed to ${channel}`, channel);
  if (sub.type.kind !== 'private' && sub.type.kind !== 'presence') {
    return refuse(conn, `Client events are only allowed on private and presence channels, not on ${channel}`, channel);
  }
  if (!withinRate(conn, ctx.clock.now(), app.limits.maxClientEventsPerSec)) {
    conn.socket.send(
      errorFrame(
        Codes.CLIENT_EVENT_RATE_LIMIT,
        `${Codes.CLIENT_EVENT_RATE_LIMIT.message} (${app.limits.maxClientEventsPerSec} per second)`,
        channel,
      ),
    );
    return;
  }
  if (ctx.meter.isOver(app)) {
    return refuse(conn, `Client event rejected: app is over its daily message quota of ${app.limits.maxMessagesPerDay}`, channel);
  }
  const dataJson = data === undefined ? 'null' : JSON.stringify(data);
  const size = Buffer.byteLength(dataJson, 'utf8');
  if (size > app.limits.maxPayloadBytes) {
    return refuse(conn, `Client event data is ${size} bytes; the limit is ${app.limits.maxPayloadBytes}`, channel);
  }
  const frame = clientEventFrame(event, channel, dataJson, sub.userId);
  ctx.broadcastCluster(app, channel, frame, conn);
  ctx.observer.clientEvent(app, channel, event, data, conn.socketId, sub.userId);
}
