/**
 * The message meter the core consults: counts messages per app as Pusher counts them (§8) and
 * says whether an app is over its daily quota. O(1) per call.
 */
import type { App } from '../apps/registry.js';

export interface MessageMeter {
  add(app: App, messages: number): void;
  isOver(app: App): boolean;
  /** Messages left today (never negative). */
  remaining(app: App): number;
  /** Epoch ms of the next reset (00:00 UTC). */
  resetsAtMs(): number;
}
