/**
 * Requests per second per app: a token bucket per key holding at most one second's worth of
 * requests, refilled continuously from the injected clock. O(1) per request; the map holds one
 * entry per app that made a request.
 */
import type { App } from '../apps/registry.js';
import { HttpError, Status } from '../rest/http.js';

interface Bucket {
  tokens: number;
  atMs: number;
}

export class RateLimiter {
  readonly #buckets = new Map<string, Bucket>();

  constructor(readonly now: () => number) {}

  /**
   * Takes one token from `key`'s bucket of `perSec` tokens. Returns 0 when the request may
   * proceed, otherwise the whole seconds (at least 1) until a token is available.
   */
  take(key: string, perSec: number): number {
    const now = this.now();
    let b = this.#buckets.get(key);
    if (b === undefined) {
      b = { tokens: perSec, atMs: now };
      this.#buckets.set(key, b);
    } else {
      b.tokens = Math.min(perSec, b.tokens + (Math.max(0, now - b.atMs) * perSec) / 1000);
      b.atMs = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / perSec));
  }
}

/**
 * The REST API's rate-limit hook: 429 with `Retry-After` in seconds (issue 4, protocol §8
 * limits). In a cluster each of the `nodes()` live nodes allows its share of the app's limit,
 * so the cluster as a whole stays within it when a load balancer spreads requests evenly.
 */
export function restRateLimit(limiter: RateLimiter, nodes: () => number = () => 1): (app: App) => HttpError | undefined {
  return (app) => {
    const limit = app.limits.maxRestRequestsPerSec;
    const perSec = Math.max(1, Math.floor(limit / nodes()));
    const waitSec = limiter.take(app.id, perSec);
    if (waitSec === 0) return undefined;
    return new HttpError(Status.TOO_MANY_REQUESTS, `App ${app.id} is over its REST rate limit of ${limit} requests per second; retry after ${waitSec} s`, {
      'Retry-After': String(waitSec),
    });
  };
}
