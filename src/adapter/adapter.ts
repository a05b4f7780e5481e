/**
 * The adapter seam (design rule 7): what one Herald node needs from "the cluster". The core
 * keeps each node's local state (its own sockets, topics and local member counts) and tells
 * the adapter about local changes; the adapter answers with cluster-wide facts. The local
 * adapter answers synchronously from the node's own state; the Redis adapter answers from
 * shared state in Redis, so its answers may be promises.
 */
import type { App } from '../apps/registry.js';

export type Maybe<T> = T | Promise<T>;

/** A cluster-wide query cannot be answered right now (Redis unreachable): REST answers 503. */
export class ClusterUnavailable extends Error {
  constructor(detail: string) {
    super(`Cluster state is unavailable right now (${detail}); retry shortly`);
    this.name = 'ClusterUnavailable';
  }
}

/** Runs `fn` on a value that may or may not be a promise, without an extra tick for plain values. */
export function whenReady<T>(value: Maybe<T>, fn: (v: T) => void, onError: (err: unknown) => void): void {
  if (value instanceof Promise) value.then(fn, onError);
  else fn(value);
}

/** Applies `fn` to a value that may be a promise; stays synchronous for plain values. */
export function mapMaybe<T, U>(value: Maybe<T>, fn: (v: T) => U): Maybe<U> {
  return value instanceof Promise ? value.then(fn) : fn(value);
}

/** As `whenReady` for several values: synchronous when none of them is a promise. */
export function whenAll<T extends readonly unknown[]>(
  values: T,
  fn: (v: { -readonly [K in keyof T]: Awaited<T[K]> }) => void,
  onError: (err: unknown) => void,
): void {
  if (values.some((v) => v instanceof Promise)) {
    Promise.all(values).then((v) => fn(v as { -readonly [K in keyof T]: Awaited<T[K]> }), onError);
  } else {
    fn(values as unknown as { -readonly [K in keyof T]: Awaited<T[K]> });
  }
}

export interface PresenceJoin {
  /** True when this connection made the user a member cluster-wide (send member_added). */
  readonly first: boolean;
  /**
   * Every member cluster-wide, user_id → user_info, including the joining user. Read it when
   * the answer arrives: the local adapter hands out its live roster (no copy per join).
   */
  readonly members: ReadonlyMap<string, unknown>;
}

export interface ChannelSummary {
  readonly subscriptions: number;
  readonly users: number;
}

export interface CachedEventData {
  readonly event: string;
  readonly data: string;
  readonly storedAtMs: number;
}

/** Messages the adapter hands to the core from other nodes. */
export interface AdapterSink {
  /** A frame published on another node for `channel`; skip `exceptSocketId` if it is local. */
  deliver(appId: string, channel: string, frame: string, exceptSocketId: string | undefined): void;
  /** Close every local connection signed in as `userId`. */
  terminateUser(appId: string, userId: string): void;
  /** A signed-in user came online or went offline somewhere in the cluster (watchlists). */
  userPresence(appId: string, userId: string, online: boolean): void;
  /**
   * A cluster-level transition found outside a local call (a dead node's state removed,
   * a resync after Redis came back): member_removed / vacated and the like.
   */
  transition(t: Transition): void;
}

export type Transition =
  | { kind: 'occupied' | 'vacated'; appId: string; channel: string }
  | { kind: 'member_added'; appId: string; channel: string; userId: string; info: unknown }
  | { kind: 'member_removed'; appId: string; channel: string; userId: string }
  | { kind: 'user_online' | 'user_offline'; appId: string; userId: string };

/**
 * Marks shared by every node, each claimable once (the webhook hold): the node that holds an
 * event marks it; whichever node first claims the mark decides — the node where the channel or
 * member came back (the pair is dropped), or the holding node when its delay ends (it sends).
 */
export interface ClusterHolds {
  mark(key: string, ttlMs: number): void;
  /** True for exactly one caller per mark; rejects when the cluster is unreachable. */
  claim(key: string): Promise<boolean>;
}

export interface Adapter {
  readonly name: 'local' | 'redis';
  start(sink: AdapterSink): Promise<void>;
  stop(): Promise<void>;
  /** False while cross-node work is impossible (Redis unreachable). */
  healthy(): boolean;

  /** Delivers a frame to the channel's subscribers on the other nodes. */
  publish(app: App, channel: string, frame: string, exceptSocketId?: string): void;
  /** This node has its first local subscriber of a channel: resolves once remote frames will arrive. */
  watchChannel(app: App, channel: string): Maybe<void>;
  /** This node has no local subscriber of a channel left. */
  unwatchChannel(app: App, channel: string): void;

  /** A local subscription was added (+1) or removed (-1); returns the cluster-wide count after. */
  subscriptionChanged(app: App, channel: string, delta: 1 | -1): Maybe<number>;
  /** A local connection joined a presence channel as `userId`. */
  presenceJoined(app: App, channel: string, userId: string, info: unknown): Maybe<PresenceJoin>;
  /** A local connection left; resolves true when the user left the channel cluster-wide. */
  presenceLeft(app: App, channel: string, userId: string): Maybe<boolean>;
  /** Reserves a connection slot for the app; false when the app is at `limit` cluster-wide. */
  reserveConnection(app: App, limit: number): Maybe<boolean>;
  releaseConnection(app: App): void;
  /** A local connection signed in (+1) or closed (-1); resolves true when the user came online / went offline. */
  userChanged(app: App, userId: string, delta: 1 | -1): Maybe<boolean>;
  /** Which of `userIds` are signed in somewhere. */
  onlineUsers(app: App, userIds: readonly string[]): Maybe<ReadonlySet<string>>;
  /** Closes a user's connections on every node (the local ones included). */
  terminateUser(app: App, userId: string): void;

  /** Cluster-wide claimable marks; undefined on one node, where local state decides. */
  holds(): ClusterHolds | undefined;
  /** Live nodes in the cluster (1 on one node); per-node shares of cluster-wide rate limits use it. */
  nodeCount(): number;
  /**
   * Adds this node's new message counts (app id → messages since the last sync) for UTC `day`
   * to the cluster-wide counts and resolves with the new totals; undefined when there is no
   * cluster to sync with (one node) or it is unreachable.
   */
  syncUsage(day: number, deltas: ReadonlyMap<string, number>): Promise<ReadonlyMap<string, number>> | undefined;

  cacheSet(app: App, channel: string, entry: CachedEventData, ttlSec: number): void;
  cacheGet(app: App, channel: string, ttlSec: number): Maybe<CachedEventData | undefined>;

  /** Occupied channels cluster-wide with their counts. */
  channels(app: App): Maybe<ReadonlyMap<string, ChannelSummary>>;
  channel(app: App, channel: string): Maybe<ChannelSummary>;
  members(app: App, channel: string): Maybe<readonly string[]>;
}
