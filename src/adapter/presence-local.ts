/**
 * Presence on one node. Rosters live here: the core records which user each subscription
 * joined as, but not the roster per channel with user_info. Online users come from the core's
 * own signed-in users (NodeCounts), which it has already changed when it calls userChanged.
 */
import type { App } from '../apps/registry.js';
import type { NodeCounts } from './node-counts.js';
import type { Presence, PresenceJoin } from './presence.js';

interface Roster {
  /** user_id → connections of that user in the channel. */
  readonly conns: Map<string, number>;
  /** user_id → the latest user_info; handed out read-only as the member list. */
  readonly infos: Map<string, unknown>;
}

export class LocalPresence implements Presence {
  /** app id → channel → roster; a channel without members has no entry. */
  readonly #rosters = new Map<string, Map<string, Roster>>();

  constructor(readonly counts: NodeCounts) {}

  #channels(app: App): Map<string, Roster> {
    let channels = this.#rosters.get(app.id);
    if (channels === undefined) {
      channels = new Map();
      this.#rosters.set(app.id, channels);
    }
    return channels;
  }

  joined(app: App, channel: string, userId: string, info: unknown): PresenceJoin {
    const channels = this.#channels(app);
    let roster = channels.get(channel);
    if (roster === undefined) {
      roster = { conns: new Map(), infos: new Map() };
      channels.set(channel, roster);
    }
    const conns = roster.conns.get(userId) ?? 0;
    roster.conns.set(userId, conns + 1);
    roster.infos.set(userId, info);
    return { first: conns === 0, members: roster.infos };
  }

  left(app: App, channel: string, userId: string): boolean {
    const channels = this.#channels(app);
    const roster = channels.get(channel);
    const conns = roster?.conns.get(userId);
    if (roster === undefined || conns === undefined) return false;
    if (conns > 1) {
      roster.conns.set(userId, conns - 1);
      return false;
    }
    roster.conns.delete(userId);
    roster.infos.delete(userId);
    if (roster.conns.size === 0) channels.delete(channel);
    return true;
  }

  members(app: App, channel: string): readonly string[] {
    return [...(this.#rosters.get(app.id)?.get(channel)?.conns.keys() ?? [])];
  }

  /** Distinct members of a channel (user_count). */
  memberCount(app: App, channel: string): number {
    return this.#rosters.get(app.id)?.get(channel)?.conns.size ?? 0;
  }

  /** The core has already added or removed the connection, so its count after is the answer. */
  userChanged(app: App, userId: string, delta: 1 | -1): boolean {
    const signedIn = this.counts(app).users.get(userId)?.size ?? 0;
    return delta > 0 ? signedIn === 1 : signedIn === 0;
  }

  onlineUsers(app: App, userIds: readonly string[]): ReadonlySet<string> {
    const users = this.counts(app).users;
    return new Set(userIds.filter((id) => (users.get(id)?.size ?? 0) > 0));
  }
}
