/**
 * The cluster-wide daily message count (quota/cluster-usage.ts). Each node counts locally and
 * adds its new counts now and then; one node has nothing to sync with.
 */

export interface UsageSync {
  /**
   * Adds this node's new message counts (app id → messages since the last sync) for UTC `day`
   * to the cluster-wide counts and resolves with the new totals of those apps; undefined when
   * `deltas` is empty or the cluster is unreachable (the caller keeps the deltas for the next
   * sync).
   */
  sync(day: number, deltas: ReadonlyMap<string, number>): Promise<ReadonlyMap<string, number>> | undefined;
}
