/**
 * The broker: frames between nodes. The core delivers every frame to its own subscribers
 * itself; the broker carries it to the channel's subscribers on the other nodes, and brings
 * theirs here. On one node there is nobody else, so publishing and watching do nothing.
 */
import type { App } from '../apps/registry.js';
import type { Maybe } from '../maybe.js';

/** What the broker hands to this node's core. */
export interface BrokerSink {
  /** A frame published on another node for `channel`; skip `exceptSocketId` if it is local. */
  deliver(appId: string, channel: string, frame: string, exceptSocketId: string | undefined): void;
  /** Close every local connection signed in as `userId`. */
  terminateUser(appId: string, userId: string): void;
}

export interface Broker {
  /** Delivers a frame to the channel's subscribers on the other nodes (never back to this one). */
  publish(app: App, channel: string, frame: string, exceptSocketId?: string): void;
  /** This node has its first local subscriber of a channel: resolves once remote frames will arrive. */
  watch(app: App, channel: string): Maybe<void>;
  /** This node has no local subscriber of a channel left. */
  unwatch(app: App, channel: string): void;
  /** Closes a user's connections on every node, this one included (through BrokerSink.terminateUser). */
  terminateUser(app: App, userId: string): void;
}
