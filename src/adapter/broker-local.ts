/**
 * The broker of a one-node cluster: there are no other nodes, so publishing and watching do
 * nothing (the core has already delivered locally); terminating a user reaches this node only.
 */
import type { App } from '../apps/registry.js';
import type { Broker, BrokerSink } from './broker.js';

export class LocalBroker implements Broker {
  #sink: BrokerSink | undefined;

  start(sink: BrokerSink): void {
    this.#sink = sink;
  }

  publish(): void {}

  watch(): void {}

  unwatch(): void {}

  terminateUser(app: App, userId: string): void {
    this.#sink?.terminateUser(app.id, userId);
  }
}
