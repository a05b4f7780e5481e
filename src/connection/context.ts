/**
 * What the protocol handlers (subscribe, sign-in, client events) may use of the core: the
 * cluster's parts, this node's channel state and its fan-out, and the observers. The core
 * implements it; handlers import only this type, so nothing in connection/ imports in a circle.
 */
import type { Cluster } from '../adapter/cluster.js';
import type { App } from '../apps/registry.js';
import type { AppState } from '../channels/state.js';
import type { MessageMeter } from '../quota/meter.js';
import type { AddressLimits } from '../quota/per-address.js';
import type { Connection } from './connection.js';
import type { CoreObserver } from './observer.js';

/**
 * Time as the core sees it: injected, so tests drive it by hand (no sleeps). `after` and
 * `every` return a function that cancels the timer; timers never keep the process alive.
 */
export interface Clock {
  now(): number;
  after(ms: number, run: () => void): () => void;
  every(ms: number, run: () => void): () => void;
}

/** The real clock (with an injectable `now` for the quota day boundary in tests). */
export function systemClock(now: () => number = Date.now): Clock {
  return {
    now,
    after(ms, run) {
      const t = setTimeout(run, ms);
      t.unref();
      return () => clearTimeout(t);
    },
    every(ms, run) {
      const t = setInterval(run, ms);
      t.unref();
      return () => clearInterval(t);
    },
  };
}

export interface CoreContext {
  readonly cluster: Cluster;
  readonly observer: Required<CoreObserver>;
  readonly meter: MessageMeter;
  readonly addresses: AddressLimits;
  readonly clock: Clock;
  /** This node's state for `app`. */
  state(app: App): AppState;
  /** Sends an internal frame to the channel's subscribers on every node, except `from`. */
  broadcastCluster(app: App, channel: string, frame: string, from?: Connection): void;
  /** Logs a failed cluster call once; the local answer has already been used. */
  clusterFailed(err: unknown): void;
}
