/**
 * The one table of Pusher codes Herald sends (protocol §3). Handlers refer to entries by name;
 * no bare 4xxx literal lives elsewhere in src/. test/unit/codes.test.ts keeps this table equal
 * to protocol/close-codes.json.
 */
export type Delivery = 'close' | 'error';
export type ReconnectClass = 'tls_only' | 'refused' | 'backoff' | 'retry' | 'none';

export interface PusherCode {
  readonly code: number;
  readonly name: string;
  readonly delivery: Delivery;
  readonly reconnect: ReconnectClass;
  readonly message: string;
}

function entry(code: number, name: string, delivery: Delivery, reconnect: ReconnectClass, message: string): PusherCode {
  return Object.freeze({ code, name, delivery, reconnect, message });
}

export const Codes = Object.freeze({
  INTERNAL_ERROR: entry(1011, 'INTERNAL_ERROR', 'close', 'none', 'Internal server error'),
  TLS_ONLY: entry(4000, 'TLS_ONLY', 'close', 'tls_only', 'Application only accepts TLS connections; reconnect with wss://'),
  APP_NOT_FOUND: entry(4001, 'APP_NOT_FOUND', 'close', 'refused', 'Application does not exist'),
  APP_DISABLED: entry(4003, 'APP_DISABLED', 'close', 'refused', 'Application disabled'),
  OVER_CONNECTION_QUOTA: entry(4004, 'OVER_CONNECTION_QUOTA', 'close', 'refused', 'Application is over connection quota'),
  PATH_NOT_FOUND: entry(4005, 'PATH_NOT_FOUND', 'close', 'refused', 'Path not found'),
  INVALID_VERSION: entry(4006, 'INVALID_VERSION', 'close', 'refused', 'Invalid version string format'),
  UNSUPPORTED_PROTOCOL: entry(4007, 'UNSUPPORTED_PROTOCOL', 'close', 'refused', 'Unsupported protocol version'),
  NO_PROTOCOL: entry(4008, 'NO_PROTOCOL', 'close', 'refused', 'No protocol version supplied'),
  UNAUTHORIZED_CONNECTION: entry(4009, 'UNAUTHORIZED_CONNECTION', 'close', 'refused', 'Connection is unauthorized'),
  OVER_CAPACITY: entry(4100, 'OVER_CAPACITY', 'close', 'backoff', 'Over capacity'),
  TOO_MANY_FROM_ADDRESS: entry(4101, 'TOO_MANY_FROM_ADDRESS', 'close', 'backoff', 'Too many connections from this address'),
  CONNECTING_TOO_FAST: entry(4102, 'CONNECTING_TOO_FAST', 'close', 'backoff', 'Connecting too fast from this address'),
  RECONNECT: entry(4200, 'RECONNECT', 'close', 'retry', 'Generic reconnect immediately'),
  PONG_NOT_RECEIVED: entry(4201, 'PONG_NOT_RECEIVED', 'close', 'retry', 'Pong reply not received'),
  INACTIVITY: entry(4202, 'INACTIVITY', 'close', 'retry', 'Closed after inactivity'),
  CLIENT_EVENT_RATE_LIMIT: entry(4301, 'CLIENT_EVENT_RATE_LIMIT', 'error', 'none', 'Client event rejected due to rate limit'),
  WATCHLIST_LIMIT: entry(4302, 'WATCHLIST_LIMIT', 'error', 'none', 'Watchlist limit exceeded'),
});

export type CodeName = keyof typeof Codes;

/**
 * Every `pusher:subscription_error` Herald sends: `type` as pusher-js and Laravel Echo read it
 * and `status` as an HTTP status (protocol/README.md, issues 2, 3 and 11). The message is
 * given where the error is raised.
 */
export interface SubscriptionErrorKind {
  readonly name: string;
  readonly type: 'AuthError' | 'LimitReached';
  readonly status: number;
}

function subError(name: string, type: SubscriptionErrorKind['type'], status: number): SubscriptionErrorKind {
  return Object.freeze({ name, type, status });
}

export const SubscriptionErrors = Object.freeze({
  /** The auth signature does not match, or the #server-to-user channel is not the signed-in user's. */
  BAD_AUTH: subError('BAD_AUTH', 'AuthError', 401),
  /** channel_data missing, malformed or given for a non-presence channel. */
  BAD_CHANNEL_DATA: subError('BAD_CHANNEL_DATA', 'AuthError', 400),
  /** user_id or user_info over the app's limits. */
  MEMBER_TOO_LARGE: subError('MEMBER_TOO_LARGE', 'LimitReached', 400),
  PRESENCE_FULL: subError('PRESENCE_FULL', 'LimitReached', 403),
  TOO_MANY_CHANNELS: subError('TOO_MANY_CHANNELS', 'LimitReached', 403),
  SUBSCRIBING_TOO_FAST: subError('SUBSCRIBING_TOO_FAST', 'LimitReached', 429),
});
