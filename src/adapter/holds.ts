/**
 * The cluster-wide webhook hold (webhooks/dispatcher.ts). A channel_vacated or member_removed
 * is held for a delay so that a quick return drops the pair; with several nodes the return may
 * happen on another node, so the hold is shared.
 */

/**
 * Marks shared by every node, each claimable once: the node that holds an event marks it;
 * whichever node first claims the mark decides — the node where the channel or member came back
 * (the pair is dropped), or the holding node when its delay ends (it sends).
 */
export interface ClusterHolds {
  /** Best effort: a mark that cannot be written is simply absent (the event is then sent). */
  mark(key: string, ttlMs: number): void;
  /** True for exactly one caller per mark; rejects when the cluster is unreachable. */
  claim(key: string): Promise<boolean>;
}
