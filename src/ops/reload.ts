/**
 * Config reload (SIGHUP or `herald reload`): the new file is read and validated whole; a bad
 * file is refused and the running config stays in force. A good one replaces the app set
 * without dropping a connection: live connections are re-pointed to their app's new record
 * (rotated secrets and changed limits apply to their next request), and only connections of
 * a removed app (4001) or a disabled app (4003) are closed, with that app's code (§3.1).
 * Server settings other than LIVE_SETTINGS need a restart; a reload that changes them says so.
 */
import type { App, AppRegistry } from '../apps/registry.js';
import type { AppConfig, HeraldConfig } from '../config/config.js';
import { deepFreeze } from '../config/schema.js';
import type { ConnectionControl } from '../connection/core.js';
import { Codes } from '../wire/codes.js';

/** Settings a reload applies at once; every other server setting needs a restart. */
export const LIVE_SETTINGS = ['apps', 'logLevel', 'memoryLimitBytes', 'shutdownGraceSec', 'shutdownDrainDelaySec'] as const;

/** What a reload changes, by app id. Never carries a secret. */
export interface ReloadPlan {
  readonly added: string[];
  readonly removed: string[];
  readonly disabled: string[];
  readonly enabled: string[];
  /** Key or secret changed. */
  readonly rotated: string[];
  /** Limits, flags, name or webhooks changed. */
  readonly changed: string[];
  /** Server settings that differ but only take effect after a restart. */
  readonly restartRequired: string[];
}

export function planReload(current: HeraldConfig, next: HeraldConfig): ReloadPlan {
  const plan: ReloadPlan = { added: [], removed: [], disabled: [], enabled: [], rotated: [], changed: [], restartRequired: [] };
  const before = new Map(current.apps.map((a) => [a.id, a]));
  for (const app of next.apps) {
    const old = before.get(app.id);
    before.delete(app.id);
    if (old === undefined) {
      plan.added.push(app.id);
      continue;
    }
    if (old.enabled && !app.enabled) plan.disabled.push(app.id);
    if (!old.enabled && app.enabled) plan.enabled.push(app.id);
    if (old.key !== app.key || old.secret !== app.secret) plan.rotated.push(app.id);
    if (settingsOf(old) !== settingsOf(app)) plan.changed.push(app.id);
  }
  plan.removed.push(...before.keys());
  for (const key of Object.keys({ ...current, ...next }) as Array<keyof HeraldConfig>) {
    if ((LIVE_SETTINGS as readonly string[]).includes(key)) continue;
    if (JSON.stringify(current[key]) !== JSON.stringify(next[key])) plan.restartRequired.push(key);
  }
  return plan;
}

function settingsOf(app: AppConfig): string {
  const { key: _key, secret: _secret, enabled: _enabled, ...rest } = app;
  return JSON.stringify(rest);
}

/** The running config after a reload: the new live settings over the current restart-only ones. */
export function mergeConfig(current: HeraldConfig, next: HeraldConfig): HeraldConfig {
  const merged: HeraldConfig = { ...current };
  for (const key of LIVE_SETTINGS) (merged as unknown as Record<string, unknown>)[key] = next[key];
  return deepFreeze(merged);
}

/**
 * Installs the new app set and re-points or closes every live connection. Returns how many
 * connections were closed (their app was removed or disabled).
 */
export function applyApps(core: ConnectionControl, registry: AppRegistry, apps: readonly App[]): number {
  registry.replace(apps);
  let closed = 0;
  for (const conn of [...core.openConnections()]) {
    const app = registry.byId(conn.app.id);
    if (app === undefined) {
      core.kick(conn, Codes.APP_NOT_FOUND, 'the app was removed from the configuration');
      closed++;
    } else if (!app.enabled) {
      core.kick(conn, Codes.APP_DISABLED);
      closed++;
    } else {
      conn.app = app;
    }
  }
  return closed;
}
