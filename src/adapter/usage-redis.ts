/**
 * The daily message counts across nodes: one counter per app and UTC day, kept two days, added
 * to in one script per sync.
 */
import type { RedisNode } from './redis-node.js';
import type { UsageSync } from './usage.js';

const KEEP_SEC = 2 * 86_400;

export class RedisUsage implements UsageSync {
  readonly #node: RedisNode;

  constructor(node: RedisNode) {
    this.#node = node;
  }

  sync(day: number, deltas: ReadonlyMap<string, number>): Promise<ReadonlyMap<string, number>> | undefined {
    const node = this.#node;
    if (!node.healthy() || deltas.size === 0) return undefined;
    const appIds = [...deltas.keys()];
    const keys = appIds.map((appId) => node.keys.usage(day, appId));
    return node.cmd.heraldUsage(keys.length, ...keys, KEEP_SEC, ...deltas.values()).then((totals) => {
      const out = new Map<string, number>();
      appIds.forEach((appId, i) => out.set(appId, Number(totals[i] ?? 0)));
      return out;
    });
  }
}
