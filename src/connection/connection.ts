/**
 * Per-connection state: one small record with an explicit state field. Everything the
 * protocol needs to know about a socket lives here; the transport keeps only a pointer to it.
 */
import type { App } from '../apps/registry.js';
import type { ChannelType } from '../channels/names.js';
import type { SocketPort } from './ports.js';

export interface Subscription {
  readonly type: ChannelType;
  /** Presence channels: the member this connection joined as. */
  readonly userId?: string;
}

export interface SignedInUser {
  readonly id: string;
  readonly info: unknown;
  readonly watchlist: readonly string[];
}

/** pending: admitted by the transport, the core's (possibly asynchronous) admission not yet decided. */
export type ConnectionState = 'pending' | 'open' | 'closed';

export class Connection {
  state: ConnectionState = 'pending';
  readonly channels = new Map<string, Subscription>();
  user: SignedInUser | undefined = undefined;
  /** Signed in, or subscribed to a private/presence channel (authorized connections, §1.4). */
  authorized = false;
  lastActivityMs: number;
  openedAtMs: number;
  /** When the server's ping went out; 0 when none is outstanding. */
  pingSentAtMs = 0;
  clientEventWindowStartMs = 0;
  clientEventsInWindow = 0;

  constructor(
    readonly socketId: string,
    public app: App,
    readonly socket: SocketPort,
    createdAtMs: number,
    /** The client's address key (quota/per-address.ts), for per-address limits. */
    readonly address: string,
  ) {
    this.openedAtMs = createdAtMs;
    this.lastActivityMs = createdAtMs;
  }
}
