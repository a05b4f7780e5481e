/**
 * The daily message counts across nodes: one counter per app and UTC day, with a hash naming
 * its generation (adapter/usage.ts), kept two days, added to in one script per sync. A Redis
 * that restarts empty loses the counters; the next sync of each node starts a new generation
 * and hands in what the node last saw, so the highest of those comes back.
 */
import { randomUUID } from 'node:crypto';
import type { RedisNode } from './redis-node.js';
import type { UsageSync, UsageTotal } from './usage.js';

const KEEP_SEC = 2 * 86_400;

export class RedisUsage implements UsageSync {
  readonly #node: RedisNode;

  constructor(node: RedisNode) {
    this.#node = node;
  }

  sync(day: number, deltas: ReadonlyMap<string, number>, seen: ReadonlyMap<string, UsageTotal>): Promise<ReadonlyMap<string, UsageTotal>> | undefined {
    const node = this.#node;
    if (!node.healthy() || deltas.size === 0) return undefined;
    const appIds = [...deltas.keys()];
    const keys = appIds.flatMap((appId) => {
      const counter = node.keys.usage(day, appId);
      return [counter, `${counter}:gen`]; // app ids hold no ':', so no app's counter is named like this
    });
    const args = appIds.flatMap((appId) => {
      const s = seen.get(appId);
      return [deltas.get(appId) ?? 0, s?.generation ?? '', s?.total ?? 0];
    });
    return node.cmd.heraldUsageSync(keys.length, ...keys, KEEP_SEC, randomUUID(), ...args).then((flat) => {
      const out = new Map<string, UsageTotal>();
      appIds.forEach((appId, i) => out.set(appId, { total: Number(flat[2 * i] ?? 0), generation: String(flat[2 * i + 1] ?? '') }));
      return out;
    });
  }
}
