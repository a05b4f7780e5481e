/**
 * Every test client connects from 127.0.0.1, where a real deployment sees one address per
 * user: tests that are not about the per-address limits lift them (the limits' own tests in
 * test/integration/hostile.test.ts set them low).
 */
export const ONE_ADDRESS_MANY_USERS = {
  maxConnectionsPerIp: 1_000_000,
  ipConnectionsPerSec: 1_000_000,
  ipConnectionBurst: 1_000_000,
  ipPublicSubscribesPerSec: 1_000_000,
  ipPublicSubscribeBurst: 1_000_000,
} as const;
