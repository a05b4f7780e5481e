/**
 * The operational log lines the core's events produce: one line per connection that ends in
 * error and per authentication failure, each with the app id and socket id. Lines carry ids
 * and codes only, never an app record (whose secret the logger would otherwise see). Clients
 * cause these lines, so each kind is limited to ten per 10 s (the next line counts the rest).
 */
import type { App } from '../apps/registry.js';
import type { CoreObserver } from '../connection/observer.js';
import type { Logger } from '../log.js';
import { Codes } from '../wire/codes.js';
import { LogLimiter } from './log-limit.js';

/** Close codes that are not errors: normal closure, going away, no status, and the server's own reconnect (shutdown). */
const ORDINARY_CLOSES = new Set([1000, 1001, 1005, Codes.RECONNECT.code]);
/** The peer vanished without a close frame: common on mobile networks, so only at debug. */
const ABNORMAL_CLOSE = 1006;

export class LogObserver implements CoreObserver {
  readonly #limit: LogLimiter;

  constructor(
    readonly logger: Logger,
    now: () => number = Date.now,
  ) {
    this.#limit = new LogLimiter(now);
  }

  connectionClosed(app: App, code: number | undefined, socketId?: string): void {
    if (code === undefined || ORDINARY_CLOSES.has(code)) return;
    const suppressed = this.#limit.allow(code === ABNORMAL_CLOSE ? 'dropped' : 'closed');
    if (suppressed === undefined) return;
    const line = { app: app.id, socket: socketId, code, suppressedSinceLast: suppressed };
    if (code === ABNORMAL_CLOSE) this.logger.debug(line, 'connection dropped without a close frame');
    else this.logger.info(line, 'connection closed with an error code');
  }

  /** REST failures are logged once by the router ("rest request refused"), so only socket ones here. */
  authFailed(app: App, what: 'channel' | 'signin' | 'rest', socketId?: string): void {
    if (what === 'rest') return;
    const suppressed = this.#limit.allow(what);
    if (suppressed === undefined) return;
    this.logger.info({ app: app.id, socket: socketId, kind: what, suppressedSinceLast: suppressed }, 'authentication failed');
  }
}
