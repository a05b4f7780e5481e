/**
 * Webhook holds across nodes: a mark is a key with a PX expiry; claiming is DEL, which exactly
 * one caller wins.
 */
import { ClusterUnavailable } from './cluster.js';
import type { ClusterHolds } from './holds.js';
import type { RedisNode } from './redis-node.js';

export class RedisHolds implements ClusterHolds {
  readonly #node: RedisNode;

  constructor(node: RedisNode) {
    this.#node = node;
  }

  mark(key: string, ttlMs: number): void {
    const node = this.#node;
    if (node.healthy()) node.cmd.set(node.keys.hold(key), '1', 'PX', ttlMs).catch((err: unknown) => node.failed(err as Error));
  }

  async claim(key: string): Promise<boolean> {
    const node = this.#node;
    if (!node.healthy()) throw new ClusterUnavailable('Redis is unreachable');
    return (await node.cmd.del(node.keys.hold(key))) === 1;
  }
}
