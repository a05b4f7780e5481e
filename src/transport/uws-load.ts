/**
 * Loads uWebSockets.js and checks that the native binary loaded. The npm build silently falls
 * back to a pure-JS server when the binary does not load; that fallback is refused unless
 * allowed. The only other importer of uWebSockets.js is the rest of src/transport/.
 */
import { createRequire } from 'node:module';
import type * as UwsTypes from 'uWebSockets.js';
import type { Logger } from '../log.js';

export type Uws = typeof UwsTypes;

export class NativeUwsUnavailable extends Error {}

/** `allowFallback`: run on the pure-JS fallback anyway (allowUwsFallback). */
export function loadUws(allowFallback: boolean, logger: Logger): Uws {
  const require = createRequire(import.meta.url);
  const uws = require('uWebSockets.js') as Uws & { getParts?: unknown };
  const native = typeof uws.getParts === 'function' && /\[native code\]/.test(String(uws.App));
  if (!native) {
    const message =
      'uWebSockets.js native binary did not load for this platform/Node version; only the slow pure-JS fallback is available';
    if (!allowFallback) {
      throw new NativeUwsUnavailable(
        `${message}. Refusing to start. Use Node 20 on Linux x64 (or set allowUwsFallback: true / HERALD_ALLOW_UWS_FALLBACK=1 to run slowly anyway).`,
      );
    }
    logger.warn('%s; running on it because allowUwsFallback is set. Performance will be poor.', message);
  }
  return uws;
}
