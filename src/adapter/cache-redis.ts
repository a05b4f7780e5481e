/**
 * The cache-channel store across nodes: one key per channel with a PX expiry, so Redis enforces
 * the TTL. Best effort while Redis is away: writes are dropped and reads miss.
 */
import type { App } from '../apps/registry.js';
import type { CachedEventData, EventCache } from './cache.js';
import type { Maybe } from '../maybe.js';
import type { RedisNode } from './redis-node.js';

export class RedisCache implements EventCache {
  readonly #node: RedisNode;

  constructor(node: RedisNode) {
    this.#node = node;
  }

  set(app: App, channel: string, entry: CachedEventData, ttlSec: number): void {
    const node = this.#node;
    if (!node.healthy()) return;
    node.cmd.set(node.keys.cache(app.id, channel), JSON.stringify(entry), 'PX', ttlSec * 1000).catch((err: unknown) => node.failed(err as Error));
  }

  get(app: App, channel: string): Maybe<CachedEventData | undefined> {
    const node = this.#node;
    if (!node.healthy()) return undefined;
    return node.cmd.get(node.keys.cache(app.id, channel)).then(
      (raw) => (raw === null ? undefined : (JSON.parse(raw) as CachedEventData)),
      (err: unknown) => {
        node.failed(err as Error);
        return undefined;
      },
    );
  }
}
