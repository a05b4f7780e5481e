/**
 * Signatures a client presents over the socket (protocol §5): channel auth for private and
 * presence channels, and user sign-in. The auth value is "<app_key>:<hex hmac>".
 */
import { fail, ok, type Result } from '../result.js';
import { hmacHex, safeEqual } from './hmac.js';

export interface Credentials {
  readonly key: string;
  readonly secret: string;
}

/** String to sign for private-, private-encrypted- and presence- channels (§5.1, §5.2). */
export function channelStringToSign(socketId: string, channel: string, channelData?: string): string {
  return channelData === undefined ? `${socketId}:${channel}` : `${socketId}:${channel}:${channelData}`;
}

/** String to sign for pusher:signin (§5.3): note the double colons. */
export function userStringToSign(socketId: string, userData: string): string {
  return `${socketId}::user::${userData}`;
}

export function sign(creds: Credentials, stringToSign: string): string {
  return `${creds.key}:${hmacHex(creds.secret, stringToSign)}`;
}

export type AuthCheck = Result<undefined>;

/** Verifies an auth value against the expected signature of `stringToSign`, in constant time. */
export function verifyAuth(creds: Credentials, stringToSign: string, auth: unknown): AuthCheck {
  if (typeof auth !== 'string' || auth.length === 0) return fail('No auth signature given');
  const colon = auth.indexOf(':');
  if (colon <= 0) return fail('Auth value must be "<app_key>:<signature>"');
  const key = auth.slice(0, colon);
  if (!safeEqual(key, creds.key)) return fail(`Invalid key "${key.slice(0, 64)}" in auth value`);
  const expected = hmacHex(creds.secret, stringToSign);
  if (!safeEqual(auth.slice(colon + 1), expected)) {
    return fail(`Invalid signature: expected HMAC SHA256 hex digest of ${stringToSign}`);
  }
  return ok(undefined);
}
