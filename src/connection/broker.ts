/**
 * The channel broker: this node's channel state per app and its fan-out. A frame is
 * serialised once and handed to the transport's topic hub (one topic per app and channel),
 * and to the cluster's broker for the other nodes. Knows nothing of connections' lifecycle.
 */
import type { Cluster } from '../adapter/cluster.js';
import type { App } from '../apps/registry.js';
import { channelType } from '../channels/names.js';
import type { AppState, ChannelStates } from '../channels/state.js';
import { eventFrame } from '../wire/frames.js';
import type { Connection } from './connection.js';
import type { CoreObserver } from './observer.js';
import { topicOf, type TopicHub } from './ports.js';

export interface BrokerDeps {
  readonly states: ChannelStates;
  readonly hub: TopicHub;
  readonly cluster: Pick<Cluster, 'broker' | 'cache'>;
  readonly observer: Required<CoreObserver>;
  readonly now: () => number;
  /** The open connection with this socket id on this node, if any (REST socket_id exclusion). */
  readonly connection: (socketId: string) => Connection | undefined;
}

/** This node's counts for one app (metrics read them at scrape time). */
export interface AppStats {
  readonly connections: number;
  readonly channels: number;
  readonly subscriptions: number;
}

export class ChannelBroker {
  constructor(readonly deps: BrokerDeps) {}

  state(app: App): AppState {
    return this.deps.states.state(app.id);
  }

  stats(app: App): AppStats {
    const state = this.state(app);
    let subscriptions = 0;
    for (const ch of state.channels.values()) subscriptions += ch.subscribers;
    return { connections: state.connections, channels: state.channels.size, subscriptions };
  }

  /**
   * Publishes one event to a channel: to local subscribers through the hub and to other nodes
   * through the cluster; `exceptSocketId` skips that socket wherever it is (REST socket_id
   * exclusion). A cache channel keeps the event. Returns the local deliveries.
   */
  publish(app: App, channel: string, event: string, data: string, exceptSocketId?: string): number {
    const { cluster, now } = this.deps;
    if (channelType(channel).cache) cluster.cache.set(app, channel, { event, data, storedAtMs: now() }, app.cacheTtlSec);
    const frame = eventFrame(event, channel, data);
    cluster.broker.publish(app, channel, frame, exceptSocketId);
    return this.deliver(app, channel, frame, exceptSocketId);
  }

  /** Delivers a serialised frame to this node's subscribers only; returns how many got it. */
  deliver(app: App, channel: string, frame: string, exceptSocketId: string | undefined): number {
    const subscribers = this.state(app).channels.get(channel)?.subscribers ?? 0;
    if (subscribers === 0) return 0;
    const topic = topicOf(app.id, channel);
    const except = exceptSocketId === undefined ? undefined : this.deps.connection(exceptSocketId);
    let deliveries = subscribers;
    if (except !== undefined && except.app.id === app.id && except.channels.has(channel)) {
      except.socket.publishFromSelf(topic, frame);
      deliveries--;
    } else {
      this.deps.hub.publish(topic, frame);
    }
    if (deliveries > 0) this.deps.observer.delivered(app, deliveries, frame.length);
    return deliveries;
  }

  /** Sends an internal frame to every local subscriber of a channel (member_added, subscription_count, …). */
  broadcast(app: App, channel: string, frame: string, from?: Connection): void {
    const subscribers = this.state(app).channels.get(channel)?.subscribers ?? 0;
    const topic = topicOf(app.id, channel);
    const recipients = from !== undefined && from.channels.has(channel) ? subscribers - 1 : subscribers;
    if (recipients <= 0) return;
    if (recipients < subscribers) from?.socket.publishFromSelf(topic, frame);
    else this.deps.hub.publish(topic, frame);
    this.deps.observer.delivered(app, recipients, frame.length);
  }

  /** As `broadcast`, to the channel's subscribers on every node. */
  broadcastCluster(app: App, channel: string, frame: string, from?: Connection): void {
    this.deps.cluster.broker.publish(app, channel, frame, from?.socketId);
    this.broadcast(app, channel, frame, from);
  }
}
