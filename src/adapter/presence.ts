/**
 * Presence: who is where, cluster-wide. Presence channel rosters are keyed by user_id (a user
 * with several connections is one member, protocol §5.2), and signed-in users are online while
 * any of their connections is open (watchlists, §2.2).
 *
 * Contract with the caller: the core first changes its own state (channels/state.ts), then
 * tells presence, once per local connection.
 */
import type { App } from '../apps/registry.js';
import type { Maybe } from '../maybe.js';

export interface PresenceJoin {
  /** True when this connection made the user a member cluster-wide (send member_added). */
  readonly first: boolean;
  /**
   * Every member cluster-wide, user_id → user_info, including the joining user. Read it when
   * the answer arrives: the local implementation hands out its live roster (no copy per join).
   */
  readonly members: ReadonlyMap<string, unknown>;
}

export interface Presence {
  /** A local connection joined a presence channel as `userId`. */
  joined(app: App, channel: string, userId: string, info: unknown): Maybe<PresenceJoin>;
  /** A local connection left; resolves true when the user left the channel cluster-wide. */
  left(app: App, channel: string, userId: string): Maybe<boolean>;
  /** The channel's members cluster-wide; rejects with ClusterUnavailable when that cannot be known. */
  members(app: App, channel: string): Maybe<readonly string[]>;
  /**
   * A local connection signed in as `userId` (+1) or a signed-in one closed (-1); resolves true
   * when the user came online / went offline cluster-wide.
   */
  userChanged(app: App, userId: string, delta: 1 | -1): Maybe<boolean>;
  /** Which of `userIds` are signed in somewhere. */
  onlineUsers(app: App, userIds: readonly string[]): Maybe<ReadonlySet<string>>;
}
