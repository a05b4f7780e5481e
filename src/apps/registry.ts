/**
 * The apps Herald serves, looked up by key (WebSocket path) and by id (REST path). The set is
 * replaced whole on config reload; callers keep no stale references beyond one request.
 */
import type { AppConfig } from '../config/config.js';

export type App = AppConfig;

export class AppRegistry {
  #byKey = new Map<string, App>();
  #byId = new Map<string, App>();

  constructor(apps: readonly App[]) {
    this.replace(apps);
  }

  replace(apps: readonly App[]): void {
    this.#byKey = new Map(apps.map((a) => [a.key, a]));
    this.#byId = new Map(apps.map((a) => [a.id, a]));
  }

  byKey(key: string): App | undefined {
    return this.#byKey.get(key);
  }

  byId(id: string): App | undefined {
    return this.#byId.get(id);
  }

  all(): IterableIterator<App> {
    return this.#byId.values();
  }
}
