/**
 * What `herald config print` and `herald config schema` show: the effective config with its
 * credentials masked, and the JSON Schema of the config file (generated from schema.ts, so it
 * cannot drift from what the server accepts).
 */
import { z } from 'zod';
import type { HeraldConfig } from './config.js';
import { CONFIG_SCHEMA } from './schema.js';

/** Stands in for every credential; it never carries any part of the value it hides. */
export const MASK = '****';

/** The password in a URL's user info (`redis://user:pass@host`), masked. */
function maskUrlPassword(url: string): string {
  return url.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#@:]*:)[^/?#@]*@/, `$1${MASK}@`);
}

/**
 * The config as JSON with every app secret, every webhook header value (they usually carry
 * tokens) and any password in a URL replaced by MASK.
 */
export function maskedConfig(config: HeraldConfig): HeraldConfig {
  return {
    ...config,
    adapter: { ...config.adapter, redisUrl: maskUrlPassword(config.adapter.redisUrl) },
    apps: config.apps.map((app) => ({
      ...app,
      secret: MASK,
      webhooks: app.webhooks.map((hook) => ({
        ...hook,
        url: maskUrlPassword(hook.url),
        headers: Object.fromEntries(Object.keys(hook.headers).map((name) => [name, MASK])),
      })),
    })),
  };
}

/** The JSON Schema (draft 2020-12) a config file must satisfy: input form, so defaulted keys are optional. */
export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(CONFIG_SCHEMA, { io: 'input' });
}
