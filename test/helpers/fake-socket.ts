/**
 * The transport's side of the core's ports (src/connection/ports.ts) without sockets: a topic
 * hub that hands each topic frame to every fake socket subscribed to the topic, and fake sockets
 * whose inbox is what a real client would read. They behave as the uWS transport does
 * (src/transport/uws.ts): `publishFromSelf` reaches every subscriber but the sender; closing a
 * socket drops its topics, reports the close to the core at once (uWS `end` calls the close
 * handler synchronously), and anything sent to it afterwards is dropped.
 */
import type { SocketPort, TopicHub } from '../../src/connection/ports.js';

export class FakeHub implements TopicHub {
  readonly #subscribers = new Map<string, Set<FakePort>>();
  /** Every frame published to a topic, in order, whoever received it. */
  readonly published: string[] = [];
  /** Contract breaches seen by the hub (publishFromSelf on a topic the socket is not in). */
  readonly violations: string[] = [];

  publish(topic: string, frame: string): void {
    this.#fanOut(topic, frame, undefined);
  }

  /** What `port.publishFromSelf` does: every subscriber of `topic` except `from`. */
  publishFrom(from: FakePort, topic: string, frame: string): void {
    if (!from.topics.has(topic)) this.violations.push(`publishFromSelf on ${topic}, which this socket is not subscribed to`);
    this.#fanOut(topic, frame, from);
  }

  join(port: FakePort, topic: string): void {
    const set = this.#subscribers.get(topic) ?? new Set<FakePort>();
    set.add(port);
    this.#subscribers.set(topic, set);
  }

  leave(port: FakePort, topic: string): void {
    const set = this.#subscribers.get(topic);
    if (set === undefined) return;
    set.delete(port);
    if (set.size === 0) this.#subscribers.delete(topic);
  }

  /** How many sockets are subscribed to `topic`. */
  subscribers(topic: string): number {
    return this.#subscribers.get(topic)?.size ?? 0;
  }

  #fanOut(topic: string, frame: string, except: FakePort | undefined): void {
    this.published.push(frame);
    for (const port of [...(this.#subscribers.get(topic) ?? [])]) if (port !== except) port.receive(frame);
  }
}

export interface CloseRecord {
  readonly code: number;
  readonly reason: string;
  /** `server`: the core closed it (port.close); `client`: the client went away. */
  readonly by: 'server' | 'client';
}

export class FakePort implements SocketPort {
  /** Every frame that reached this client, direct or through a topic, in arrival order. */
  readonly inbox: string[] = [];
  readonly topics = new Set<string>();
  /** Frames the core sent after the socket closed (the transport drops them). */
  readonly late: string[] = [];
  closed: CloseRecord | undefined;
  /** The transport's close callback: set once the core has handed back the connection. */
  onClose: ((code: number) => void) | undefined;

  constructor(readonly hub: FakeHub) {}

  send(frame: string): boolean {
    if (this.closed !== undefined) {
      this.late.push(frame);
      return false;
    }
    this.inbox.push(frame);
    return true;
  }

  close(code: number, reason: string): void {
    this.#gone({ code, reason, by: 'server' });
  }

  /** The client closes the socket (or the network drops it) with `code`. */
  disconnect(code = 1000, reason = ''): void {
    this.#gone({ code, reason, by: 'client' });
  }

  subscribe(topic: string): void {
    if (this.closed !== undefined) return;
    this.topics.add(topic);
    this.hub.join(this, topic);
  }

  unsubscribe(topic: string): void {
    if (this.closed !== undefined) return;
    this.topics.delete(topic);
    this.hub.leave(this, topic);
  }

  publishFromSelf(topic: string, frame: string): void {
    if (this.closed === undefined) this.hub.publishFrom(this, topic, frame);
  }

  /** A frame delivered through the hub. */
  receive(frame: string): void {
    if (this.closed === undefined) this.inbox.push(frame);
  }

  #gone(record: CloseRecord): void {
    if (this.closed !== undefined) return;
    this.closed = record;
    for (const topic of this.topics) this.hub.leave(this, topic);
    this.topics.clear();
    this.onClose?.(record.code);
  }
}
