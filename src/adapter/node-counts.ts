/**
 * What this node's core already counts, read-only. The local cluster answers its counting
 * questions from it instead of keeping a second copy; `AppState` (channels/state.ts) has this
 * shape, so the composition root passes `(app) => core.state(app)`. Declared here, structurally,
 * so that the adapter never imports the core.
 */
import type { App } from '../apps/registry.js';

export interface AppCounts {
  /** Channels with local subscribers (an entry is removed when its last subscriber leaves). */
  readonly channels: ReadonlyMap<string, { readonly subscribers: number }>;
  /** user_id → this node's connections signed in as that user. */
  readonly users: ReadonlyMap<string, ReadonlySet<unknown>>;
  /** Open connections of the app on this node. */
  readonly connections: number;
}

export type NodeCounts = (app: App) => AppCounts;
