/**
 * The handshake rules every transport shares (protocol §1.1, §3.1): a transport finds the app
 * key in its own URL shape and hands it over with the query; the core checks the protocol
 * version and the version string, decodes the key and finds the app. What it refuses it names
 * by Pusher code.
 */
import type { App, AppRegistry } from '../apps/registry.js';
import { fail, ok, type Result } from '../result.js';
import { Codes, type PusherCode } from '../wire/codes.js';

/** What a transport knows about a new connection before the core decides on it. */
export interface Handshake {
  /** The app key as it appears in the transport's URL (percent-encoded); undefined when the URL has none. */
  readonly appKey: string | undefined;
  /** The raw query string (`protocol=7&client=js&version=8.6.0`). */
  readonly query: string;
  /** The client's address key (quota/per-address.ts `addressKey`). */
  readonly address: string;
}

export interface Refusal {
  readonly code: PusherCode;
  readonly detail: string;
}

const VERSION = /^\d+(\.\d+){0,3}([-+.][0-9A-Za-z.-]+)?$/;
const MIN_PROTOCOL = 4;
const MAX_PROTOCOL = 7;

/** Checks the query's protocol and version (4008, 4007, 4006). */
export function checkQuery(query: URLSearchParams): PusherCode | undefined {
  const protocol = query.get('protocol');
  if (protocol === null || protocol === '') return Codes.NO_PROTOCOL;
  const n = /^\d+$/.test(protocol) ? Number(protocol) : NaN;
  if (!(n >= MIN_PROTOCOL && n <= MAX_PROTOCOL)) return Codes.UNSUPPORTED_PROTOCOL;
  const version = query.get('version');
  if (version !== null && !VERSION.test(version)) return Codes.INVALID_VERSION;
  return undefined;
}

/** The app a handshake names, or the code that refuses it (4005, 4008, 4007, 4006, 4001). */
export function findApp(hs: Handshake, apps: AppRegistry): Result<App, Refusal> {
  if (hs.appKey === undefined) return fail({ code: Codes.PATH_NOT_FOUND, detail: Codes.PATH_NOT_FOUND.message });
  const bad = checkQuery(new URLSearchParams(hs.query));
  if (bad !== undefined) return fail({ code: bad, detail: `${bad.message}: ${hs.query.slice(0, 64)}` });
  let key: string;
  try {
    key = decodeURIComponent(hs.appKey);
  } catch {
    return fail({ code: Codes.APP_NOT_FOUND, detail: `${Codes.APP_NOT_FOUND.message}: the key is not valid percent-encoding` });
  }
  const app = apps.byKey(key);
  if (app === undefined) return fail({ code: Codes.APP_NOT_FOUND, detail: `${Codes.APP_NOT_FOUND.message}: no app with key "${key.slice(0, 64)}"` });
  return ok(app);
}
