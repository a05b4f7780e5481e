/**
 * Server-side liveness (protocol §1.3, §1.4): after activity_timeout of silence the server
 * sends pusher:ping; no frame within pong_timeout closes with 4201. Apps that require
 * authorized connections close unauthorized ones with 4009 after their timeout.
 */
import { Codes } from '../wire/codes.js';
import { PING } from '../wire/frames.js';
import type { Core } from './core.js';

export function checkLiveness(core: Core, now: number): void {
  const { activityTimeoutSec, pongTimeoutSec } = core.deps.settings;
  const idleMs = activityTimeoutSec * 1000;
  const pongMs = pongTimeoutSec * 1000;
  for (const conn of core.connections.values()) {
    if (conn.state !== 'open') continue;
    const app = conn.app;
    if (app.requireAuthorizedConnections && !conn.authorized && now - conn.openedAtMs >= app.authorizedConnectionTimeoutSec * 1000) {
      core.kick(conn, Codes.UNAUTHORIZED_CONNECTION, `neither signed in nor subscribed to a private or presence channel within ${app.authorizedConnectionTimeoutSec}s`);
      continue;
    }
    if (conn.pingSentAtMs !== 0) {
      if (now - conn.pingSentAtMs >= pongMs) core.kick(conn, Codes.PONG_NOT_RECEIVED);
    } else if (now - conn.lastActivityMs >= idleMs) {
      conn.pingSentAtMs = now;
      conn.socket.send(PING);
    }
  }
}
