/**
 * The webhook wire format (protocol §9): body `{"time_ms", "events":[…]}`, headers
 * `X-Pusher-Key`, `X-Pusher-Signature` (hex HMAC-SHA256 of the exact body bytes with the app
 * secret) and `Content-Type: application/json` exactly — the Node SDK's `isValid()` rejects a
 * charset suffix. Pure functions.
 */
import type { App } from '../apps/registry.js';
import { hmacHex } from '../auth/hmac.js';
import type { WebhookEventType, WebhookTarget } from '../config/config.js';

/**
 * One event as the core reported it. A client event keeps `data` as the client sent it; it is
 * encoded to the string Pusher sends only when the batch is flushed, off the hot path.
 */
export type WebhookEvent =
  | { readonly name: 'channel_occupied' | 'channel_vacated' | 'cache_miss'; readonly channel: string }
  | { readonly name: 'member_added' | 'member_removed'; readonly channel: string; readonly user_id: string }
  | { readonly name: 'subscription_count'; readonly channel: string; readonly subscription_count: number }
  | {
      readonly name: 'client_event';
      readonly channel: string;
      readonly event: string;
      readonly data: unknown;
      readonly socket_id: string;
      readonly user_id?: string;
    };

/** Headers Herald sets itself; a target's extra headers cannot replace them. */
const RESERVED_HEADERS = new Set(['content-type', 'x-pusher-key', 'x-pusher-signature', 'content-length']);

/** The event as Pusher sends it: client event `data` is a string (§9 table). */
export function wireEvent(e: WebhookEvent): Record<string, unknown> {
  if (e.name !== 'client_event') return e;
  const data = typeof e.data === 'string' ? e.data : JSON.stringify(e.data ?? null);
  const out: Record<string, unknown> = { name: e.name, channel: e.channel, event: e.event, data, socket_id: e.socket_id };
  if (e.user_id !== undefined) out.user_id = e.user_id;
  return out;
}

export function encodeBody(timeMs: number, events: readonly WebhookEvent[]): string {
  return JSON.stringify({ time_ms: timeMs, events: events.map(wireEvent) });
}

/** The distinct event types in a batch, for per-type request metrics. */
export function eventTypes(events: readonly WebhookEvent[]): WebhookEventType[] {
  return [...new Set(events.map((e) => e.name))];
}

/** Whether `target` asked for this event: its type list and its channel-name prefix. */
export function wants(target: WebhookTarget, event: WebhookEvent): boolean {
  return target.events.includes(event.name) && event.channel.startsWith(target.filterPrefix);
}

/** Request headers for one delivery; the signature covers the exact body string (UTF-8). */
export function webhookHeaders(app: App, target: WebhookTarget, body: string): Record<string, string> {
  const headers: Record<string, string> = { 'User-Agent': 'herald-webhooks' };
  for (const [name, value] of Object.entries(target.headers)) {
    if (!RESERVED_HEADERS.has(name.toLowerCase())) headers[name] = value;
  }
  headers['Content-Type'] = 'application/json';
  headers['X-Pusher-Key'] = app.key;
  headers['X-Pusher-Signature'] = hmacHex(app.secret, body);
  return headers;
}
