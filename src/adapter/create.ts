/**
 * Chooses the cluster from config: `local` (default, nothing else needed) or `redis`.
 */
import type { AdapterConfig } from '../config/config.js';
import type { Logger } from '../log.js';
import type { Cluster } from './cluster.js';
import { LocalCluster } from './cluster-local.js';
import { RedisCluster } from './cluster-redis.js';
import type { NodeCounts } from './node-counts.js';

/** `counts` is the core's own state, read by the local cluster (node-counts.ts). */
export function createCluster(config: AdapterConfig, logger: Logger, now: () => number, counts: NodeCounts): Cluster {
  if (config.driver === 'local') return new LocalCluster(counts, now);
  return new RedisCluster({
    url: config.redisUrl,
    keyPrefix: config.keyPrefix,
    heartbeatMs: config.heartbeatMs,
    deadAfterMs: config.deadAfterMs,
    commandTimeoutMs: config.commandTimeoutMs,
    logger: logger.child({ component: 'redis-adapter' }),
  });
}
