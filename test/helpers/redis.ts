/**
 * Where the tests find Redis (HERALD_TEST_REDIS_URL, default 127.0.0.1:6379), and whether it is
 * there. Tests that need Redis skip with a message naming the URL when it is not.
 */
import { Redis } from 'ioredis';

export const REDIS_URL = process.env.HERALD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export async function redisAvailable(url = REDIS_URL): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}
