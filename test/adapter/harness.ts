/**
 * What the conformance suites in test/adapter share: the two implementations (local, and Redis
 * at REDIS_URL — skipped with a message naming the URL when no Redis answers there), a sink
 * that records what the cluster hands to the core, and a test node that plays the core's part
 * of each contract: it changes its own counts first (as channels/state.ts is changed), then
 * tells the cluster.
 */
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, afterEach, it } from 'vitest';
import type { Cluster, ClusterSink, Transition } from '../../src/adapter/cluster.js';
import { LocalCluster } from '../../src/adapter/cluster-local.js';
import { RedisCluster } from '../../src/adapter/cluster-redis.js';
import type { Maybe } from '../../src/maybe.js';
import type { AppCounts, NodeCounts } from '../../src/adapter/node-counts.js';
import type { App } from '../../src/apps/registry.js';
import { parseConfig } from '../../src/config/config.js';
import { REDIS_URL, redisAvailable } from '../helpers/redis.js';

export const app = parseConfig({ apps: [{ id: 'a1', key: 'k1', secret: 'secret-s1-xxxxxx' }] }, 'test').apps[0] as App;
const logger = pino({ level: 'silent' });
export const hasRedis = await redisAvailable();
if (!hasRedis) console.warn(`[adapter tests] Redis is not reachable at ${REDIS_URL}: the Redis cluster runs are SKIPPED`);

export class RecordingSink implements ClusterSink {
  readonly delivered: Array<[string, string, string, string | undefined]> = [];
  readonly terminated: Array<[string, string]> = [];
  readonly presence: Array<[string, string, boolean]> = [];
  readonly transitions: Transition[] = [];
  deliver(appId: string, channel: string, frame: string, except: string | undefined): void {
    this.delivered.push([appId, channel, frame, except]);
  }
  terminateUser(appId: string, userId: string): void {
    this.terminated.push([appId, userId]);
  }
  userPresence(appId: string, userId: string, online: boolean): void {
    this.presence.push([appId, userId, online]);
  }
  transition(t: Transition): void {
    this.transitions.push(t);
  }
}

interface MutableCounts {
  readonly channels: Map<string, { subscribers: number }>;
  readonly users: Map<string, Set<symbol>>;
  connections: number;
}

/** One node under test: its cluster, its sink, and the core's own counts it plays. */
export class TestNode {
  readonly #apps = new Map<string, MutableCounts>();
  readonly counts: NodeCounts = (a: App): AppCounts => this.#app(a);

  constructor(
    readonly cluster: Cluster,
    readonly sink: RecordingSink,
  ) {}

  #app(a: App): MutableCounts {
    let c = this.#apps.get(a.id);
    if (c === undefined) {
      c = { channels: new Map(), users: new Map(), connections: 0 };
      this.#apps.set(a.id, c);
    }
    return c;
  }

  subscribe(a: App, channel: string): Maybe<number> {
    const channels = this.#app(a).channels;
    const ch = channels.get(channel) ?? { subscribers: 0 };
    ch.subscribers++;
    channels.set(channel, ch);
    return this.cluster.occupancy.subscriptionChanged(a, channel, 1);
  }

  unsubscribe(a: App, channel: string): Maybe<number> {
    const channels = this.#app(a).channels;
    const ch = channels.get(channel);
    if (ch !== undefined && --ch.subscribers <= 0) channels.delete(channel);
    return this.cluster.occupancy.subscriptionChanged(a, channel, -1);
  }

  /** Admits and opens a connection as the core does: a granted slot is counted at once. */
  async connect(a: App, limit: number): Promise<boolean> {
    const reserved = this.cluster.occupancy.reserveConnection(a, limit);
    const granted = reserved instanceof Promise ? await reserved : reserved;
    if (granted) this.#app(a).connections++;
    return granted;
  }

  disconnect(a: App): void {
    this.#app(a).connections--;
    this.cluster.occupancy.releaseConnection(a);
  }

  signIn(a: App, userId: string): Maybe<boolean> {
    const users = this.#app(a).users;
    users.set(userId, (users.get(userId) ?? new Set()).add(Symbol(userId)));
    return this.cluster.presence.userChanged(a, userId, 1);
  }

  signOut(a: App, userId: string): Maybe<boolean> {
    const users = this.#app(a).users;
    const conns = users.get(userId);
    const one = conns?.values().next();
    if (conns !== undefined && one !== undefined && !one.done) conns.delete(one.value);
    if (conns?.size === 0) users.delete(userId);
    return this.cluster.presence.userChanged(a, userId, -1);
  }
}

export interface NodeOptions {
  /** Nodes with the same prefix form one Redis cluster (default: a fresh one). */
  readonly prefix?: string;
  readonly nodeId?: string;
}

export interface Impl {
  readonly name: 'local' | 'redis';
  /** `it`, or `it.skip` when the implementation cannot run here. */
  readonly it: (name: string, fn: () => Promise<void> | void) => void;
  /** Starts a node; it is stopped after the test. */
  node(options?: NodeOptions): Promise<TestNode>;
}

const running: Cluster[] = [];
let prefixes = 0;

export function freshPrefix(): string {
  return `herald-test-${process.pid}-${Date.now()}-${prefixes++}`;
}

async function startNode(make: (counts: NodeCounts) => Cluster): Promise<TestNode> {
  let node: TestNode | undefined;
  const cluster = make((a) => (node as TestNode).counts(a));
  node = new TestNode(cluster, new RecordingSink());
  await cluster.start(node.sink);
  running.push(cluster);
  return node;
}

export function redisNode(options: NodeOptions = {}): Promise<TestNode> {
  const { prefix = freshPrefix(), nodeId } = options;
  return startNode(() => new RedisCluster({ url: REDIS_URL, keyPrefix: prefix, heartbeatMs: 100, deadAfterMs: 600, logger, nodeId }));
}

export const impls: readonly Impl[] = [
  { name: 'local', it, node: () => startNode((counts) => new LocalCluster(counts, Date.now)) },
  { name: 'redis', it: hasRedis ? it : it.skip, node: redisNode },
];

/** Registers the clean-up every suite needs: nodes stopped after each test, test keys deleted at the end. */
export function useNodes(): void {
  afterEach(async () => {
    for (const cluster of running.splice(0)) await cluster.stop();
  });
  afterAll(async () => {
    if (!hasRedis) return;
    const admin = new Redis(REDIS_URL);
    const keys = await admin.keys(`{herald-test-${process.pid}-*`);
    if (keys.length > 0) await admin.del(...keys);
    await admin.quit();
  });
}

/** The Redis cluster behind a test node (for its test hooks: abandon, clientId, waitHealthy). */
export function redisOf(node: TestNode): RedisCluster {
  if (!(node.cluster instanceof RedisCluster)) throw new Error('not a Redis node');
  return node.cluster;
}
