/**
 * The narrow ports between the transport-free core and whatever carries frames (today the
 * uWS WebSocket transport; later HTTP fallbacks). Topics are one per app and channel.
 */

/** One client connection as the core sees it. */
export interface SocketPort {
  /** Queues a frame; false when the transport dropped it (closed or over its buffer limit). */
  send(frame: string): boolean;
  /** Ends the connection with a Pusher close code (a pusher:error frame is sent first by the core). */
  close(code: number, reason: string): void;
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
  /** Delivers `frame` to every subscriber of `topic` except this socket (which must be subscribed). */
  publishFromSelf(topic: string, frame: string): void;
}

/** Process-wide topic fan-out: one serialised frame, the transport does per-recipient work. */
export interface TopicHub {
  publish(topic: string, frame: string): void;
}

export function topicOf(appId: string, channel: string): string {
  return `${appId}:${channel}`;
}
