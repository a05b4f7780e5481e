/**
 * Server-side liveness (protocol §1.3, §1.4): after activity_timeout of silence the server
 * sends pusher:ping; no frame within pong_timeout closes with 4201. Apps that require
 * authorized connections close unauthorized ones with 4009 after their timeout.
 */
import { Codes, type PusherCode } from '../wire/codes.js';
import { PING } from '../wire/frames.js';
import type { Connection } from './connection.js';

export interface LivenessSettings {
  readonly activityTimeoutSec: number;
  readonly pongTimeoutSec: number;
}

export function checkLiveness(
  connections: Iterable<Connection>,
  settings: LivenessSettings,
  now: number,
  kick: (conn: Connection, code: PusherCode, detail?: string) => void,
): void {
  const idleMs = settings.activityTimeoutSec * 1000;
  const pongMs = settings.pongTimeoutSec * 1000;
  for (const conn of connections) {
    if (conn.state !== 'open') continue;
    const app = conn.app;
    if (app.requireAuthorizedConnections && !conn.authorized && now - conn.openedAtMs >= app.authorizedConnectionTimeoutSec * 1000) {
      kick(conn, Codes.UNAUTHORIZED_CONNECTION, `neither signed in nor subscribed to a private or presence channel within ${app.authorizedConnectionTimeoutSec}s`);
      continue;
    }
    if (conn.pingSentAtMs !== 0) {
      if (now - conn.pingSentAtMs >= pongMs) kick(conn, Codes.PONG_NOT_RECEIVED);
    } else if (now - conn.lastActivityMs >= idleMs) {
      conn.pingSentAtMs = now;
      conn.socket.send(PING);
    }
  }
}

/** How often the sweep runs: a quarter of the shortest deadline it enforces, at least 250 ms. */
export function sweepIntervalMs(settings: LivenessSettings, authorizedTimeoutsSec: readonly number[]): number {
  return Math.max(250, Math.min(settings.activityTimeoutSec, settings.pongTimeoutSec, ...authorizedTimeoutsSec) * 250);
}
