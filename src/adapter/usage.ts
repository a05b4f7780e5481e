/**
 * The cluster-wide daily message count (quota/cluster-usage.ts). Each node counts locally and
 * adds its new counts now and then; one node has nothing to sync with.
 *
 * A shared count can be lost (the store restarts empty) while the nodes keep running. Every
 * total therefore names the generation of the shared counter it was read from: a lost counter
 * comes back under a new generation, and a node that last saw an older generation hands in
 * what it saw there as a claim. The new counter is raised to the highest claim (a max, so a
 * claim counts once however often it is repeated) and the deltas are added on top: once every
 * running node has synced, the count is back where it was, plus what was counted since.
 */

/** What a node last learnt of one app's cluster-wide count for one day. */
export interface UsageTotal {
  /** Messages counted across the cluster. */
  readonly total: number;
  /** The life of the shared counter `total` was read from; a lost counter comes back under a new one. */
  readonly generation: string;
}

export interface UsageSync {
  /**
   * Adds this node's new message counts (app id → messages since the last sync) for UTC `day`
   * to the cluster-wide counts and resolves with the new totals of those apps; undefined when
   * `deltas` is empty or the cluster is unreachable (the caller keeps the deltas for the next
   * sync). `seen` holds the totals this node last learnt for `day` (none for a node that has
   * not synced yet today): a seen total from an earlier generation restores the lost count.
   */
  sync(day: number, deltas: ReadonlyMap<string, number>, seen: ReadonlyMap<string, UsageTotal>): Promise<ReadonlyMap<string, UsageTotal>> | undefined;
}
