/**
 * HMAC-SHA256 and MD5 helpers from node:crypto; every comparison of a secret-derived value is
 * constant-time on equal-length buffers (protocol §5.5).
 */
import { createHmac, hash, timingSafeEqual } from 'node:crypto';

export function hmacHex(secret: string, message: string): string {
  return createHmac('sha256', secret).update(message, 'utf8').digest('hex');
}

export function md5Hex(body: Uint8Array | string): string {
  return hash('md5', body, 'hex');
}

/** Constant-time string equality; the length check leaks only the (public) length. */
export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  if (ab.length !== bb.length) {
    timingSafeEqual(ab, ab);
    return false;
  }
  return timingSafeEqual(ab, bb);
}
