/**
 * Occupancy on one node, answered from the core's own counts (NodeCounts) rather than a second
 * copy: the core changes them before it calls here, so its count after a change is the answer.
 * Presence member counts come from the local rosters.
 */
import type { App } from '../apps/registry.js';
import type { NodeCounts } from './node-counts.js';
import type { ChannelSummary, Occupancy } from './occupancy.js';

export class LocalOccupancy implements Occupancy {
  constructor(
    readonly counts: NodeCounts,
    /** Distinct presence members of a channel (LocalPresence.memberCount). */
    readonly memberCount: (app: App, channel: string) => number,
  ) {}

  subscriptionChanged(app: App, channel: string): number {
    return this.counts(app).channels.get(channel)?.subscribers ?? 0;
  }

  channel(app: App, channel: string): ChannelSummary {
    return { subscriptions: this.subscriptionChanged(app, channel), users: this.memberCount(app, channel) };
  }

  channels(app: App): ReadonlyMap<string, ChannelSummary> {
    const out = new Map<string, ChannelSummary>();
    for (const [channel, { subscribers }] of this.counts(app).channels) {
      if (subscribers > 0) out.set(channel, { subscriptions: subscribers, users: this.memberCount(app, channel) });
    }
    return out;
  }

  /**
   * Answers from the connections the core has opened: the grant is synchronous, so the core
   * opens (counts) or releases the connection before anything else is admitted.
   */
  reserveConnection(app: App, limit: number): boolean {
    return this.counts(app).connections < limit;
  }

  /** Nothing to give back: the core has already uncounted the connection. */
  releaseConnection(): void {}
}
