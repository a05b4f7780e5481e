/**
 * What every importer returns, and the value coercions they share. An importer never throws for
 * a setting it cannot carry over: it lists it in `unmapped` with the reason, naming the setting
 * only — never its value, which may be a secret.
 */
export interface Unmapped {
  /** The source's own name for the setting: a dotted soketi key or an environment variable. */
  readonly setting: string;
  readonly reason: string;
}

export interface Translation {
  /** Raw Herald config (defaults left out), to be validated by parseConfig before it is written. */
  readonly config: Record<string, unknown>;
  readonly unmapped: Unmapped[];
  /** Behaviour that changes although the setting was carried over (or had no setting at all). */
  readonly notes: string[];
}

/** An import that cannot produce a config at all (no apps, a short secret, a bad value). */
export class ImportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImportError';
  }
}

/**
 * A whole number from a JSON number or a numeric string (both soketi and Laravel read numbers
 * from strings); undefined for anything else, so the caller reports it rather than guessing.
 */
export function wholeNumber(value: unknown): number | undefined {
  const n = typeof value === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(value) ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) ? Math.floor(n) : undefined;
}

/** true/false from a boolean, 1/0, or the strings Laravel's env() and soketi's JSON parse accept. */
export function flag(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (value === 1 || value === 0) return value === 1;
  if (typeof value !== 'string') return undefined;
  if (/^\(?(true|1|yes|on)\)?$/i.test(value.trim())) return true;
  if (/^\(?(false|0|no|off)\)?$/i.test(value.trim())) return false;
  return undefined;
}

/** A non-empty string, or undefined (Laravel reads the text `null` as no value). */
export function text(value: unknown): string | undefined {
  if (typeof value === 'number') return String(value);
  if (typeof value !== 'string' || value === '' || /^\(?null\)?$/i.test(value)) return undefined;
  return value;
}

export interface RedisParts {
  readonly host?: string | undefined;
  readonly port?: number | undefined;
  readonly db?: number | undefined;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  readonly tls?: boolean | undefined;
}

/** Herald's `adapter.redisUrl` from host/port/db/credentials, percent-encoding the credentials. */
export function redisUrl(parts: RedisParts): string {
  const user = parts.username === undefined ? '' : encodeURIComponent(parts.username);
  const auth = parts.password === undefined ? (user ? `${user}@` : '') : `${user}:${encodeURIComponent(parts.password)}@`;
  const host = parts.host?.includes(':') ? `[${parts.host}]` : (parts.host ?? '127.0.0.1');
  const db = parts.db ? `/${parts.db}` : '';
  return `${parts.tls ? 'rediss' : 'redis'}://${auth}${host}:${parts.port ?? 6379}${db}`;
}
