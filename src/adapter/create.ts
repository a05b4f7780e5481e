/**
 * Chooses the adapter from config: `local` (default, nothing else needed) or `redis`.
 */
import type { AdapterConfig } from '../config/config.js';
import type { Logger } from '../log.js';
import type { Adapter } from './adapter.js';
import { LocalAdapter } from './local.js';
import { RedisAdapter } from './redis.js';

export function createAdapter(config: AdapterConfig, logger: Logger, now: () => number): Adapter {
  if (config.driver === 'local') return new LocalAdapter(now);
  return new RedisAdapter({
    url: config.redisUrl,
    keyPrefix: config.keyPrefix,
    heartbeatMs: config.heartbeatMs,
    deadAfterMs: config.deadAfterMs,
    logger: logger.child({ component: 'redis-adapter' }),
  });
}
