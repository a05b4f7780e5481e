/**
 * TLS files are checked before the transport is built: uWebSockets.js reports a missing or
 * unreadable certificate only as "App construction failed", so the error names the file here.
 */
import { accessSync, constants } from 'node:fs';
import type { TlsConfig } from '../config/config.js';
import { ConfigError } from '../config/schema.js';

export function checkTlsFiles(tls: TlsConfig | undefined): void {
  if (tls === undefined) return;
  for (const key of ['certFile', 'keyFile'] as const) {
    try {
      accessSync(tls[key], constants.R_OK);
    } catch (err) {
      throw new ConfigError('config', `tls.${key}`, `cannot be read: ${(err as Error).message}`);
    }
  }
}
