/**
 * REST request authentication, auth_version 1.0 (protocol §7.3): the signature is the hex
 * HMAC-SHA256 of "METHOD\nPATH\nQUERY" where QUERY is every parameter but auth_signature,
 * keys lowercased and sorted, values decoded and unescaped, joined k=v with &.
 */
import { fail, ok, type Result } from '../result.js';
import { hmacHex, md5Hex, safeEqual } from './hmac.js';

export const TIMESTAMP_WINDOW_SEC = 600;

export interface RestRequest {
  readonly method: string;
  readonly path: string;
  /** Decoded query parameters; a repeated key keeps its last value. */
  readonly query: ReadonlyMap<string, string>;
  readonly body: Uint8Array;
}

/** Why a request failed authentication, as a fixed word for logs and metrics (the reason is for the caller). */
export type RestAuthProblem = 'missing_key' | 'unknown_key' | 'bad_version' | 'bad_timestamp' | 'missing_body_md5' | 'bad_body_md5' | 'bad_signature';

export interface RestAuthFailure {
  readonly problem: RestAuthProblem;
  readonly reason: string;
}

/** The key the request was signed with, or why it failed. */
export type RestAuthResult = Result<string, RestAuthFailure>;

function refuse(problem: RestAuthProblem, reason: string): { readonly ok: false; readonly error: RestAuthFailure } {
  return fail({ problem, reason });
}

export function restStringToSign(method: string, path: string, query: ReadonlyMap<string, string>): string {
  const pairs: Array<[string, string]> = [];
  for (const [k, v] of query) {
    const key = k.toLowerCase();
    if (key !== 'auth_signature') pairs.push([key, v]);
  }
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return `${method.toUpperCase()}\n${path}\n${pairs.map(([k, v]) => `${k}=${v}`).join('&')}`;
}

/**
 * Decodes a query string as URLSearchParams would ('+' is a space, %XX escapes), without
 * its per-call overhead: plain pairs (the common case for the SDKs) are not decoded at all.
 */
export function parseQuery(raw: string): Map<string, string> {
  const out = new Map<string, string>();
  if (!raw) return out;
  for (const pair of raw.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const k = eq < 0 ? pair : pair.slice(0, eq);
    const v = eq < 0 ? '' : pair.slice(eq + 1);
    out.set(decodeQueryPart(k), decodeQueryPart(v));
  }
  return out;
}

function decodeQueryPart(s: string): string {
  if (!s.includes('%') && !s.includes('+')) return s;
  const spaced = s.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(spaced);
  } catch {
    return new URLSearchParams(`x=${s}`).get('x') ?? spaced; // malformed escapes: decode what URLSearchParams would
  }
}

/**
 * The checks that need only the query (key, version, timestamp): done before a body is read,
 * so a request with stale or unknown credentials is refused without buffering it.
 * `secretFor` returns the secret of the app's key (or undefined); the caller has already
 * matched the app by id in the path (an unknown app id has no keys, so it fails here exactly
 * as a wrong key does: the answer does not reveal which app ids exist).
 */
export function checkCredentials(
  query: ReadonlyMap<string, string>,
  secretFor: (key: string) => string | undefined,
  nowSec: number,
): RestAuthResult {
  const key = query.get('auth_key');
  if (!key) return refuse('missing_key', 'Missing auth_key parameter');
  const secret = secretFor(key);
  if (secret === undefined) return refuse('unknown_key', `Unknown auth_key "${key.slice(0, 64)}"`);
  const version = query.get('auth_version');
  if (version !== '1.0') return refuse('bad_version', 'auth_version must be 1.0');
  const tsRaw = query.get('auth_timestamp');
  if (!tsRaw || !/^\d{1,15}$/.test(tsRaw)) return refuse('bad_timestamp', 'Missing or malformed auth_timestamp');
  const ts = Number(tsRaw);
  if (Math.abs(nowSec - ts) >= TIMESTAMP_WINDOW_SEC) {
    return refuse('bad_timestamp', `Timestamp expired: given timestamp ${ts} not within ${TIMESTAMP_WINDOW_SEC}s of server time ${nowSec}`);
  }
  return ok(key);
}

/** Checks the request's credentials in full: `checkCredentials`, then body_md5 and the signature. */
export function verifyRestRequest(
  req: RestRequest,
  secretFor: (key: string) => string | undefined,
  nowSec: number,
): RestAuthResult {
  const q = req.query;
  const checked = checkCredentials(q, secretFor, nowSec);
  if (!checked.ok) return checked;
  const bodyMd5 = q.get('body_md5');
  if (req.body.length > 0 || bodyMd5 !== undefined) {
    if (bodyMd5 === undefined) return refuse('missing_body_md5', 'Missing body_md5 for a request with a body');
    if (!safeEqual(bodyMd5, md5Hex(req.body))) return refuse('bad_body_md5', 'body_md5 does not match the request body');
  }
  const given = q.get('auth_signature') ?? '';
  const toSign = restStringToSign(req.method, req.path, q);
  if (!safeEqual(given, hmacHex(secretFor(checked.value) ?? '', toSign))) {
    return refuse('bad_signature', `Invalid signature: you should have sent HmacSHA256Hex(${JSON.stringify(toSign)}, your_secret_key)`);
  }
  return checked;
}
