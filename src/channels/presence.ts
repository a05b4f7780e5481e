import { fail, ok, type Result } from '../result.js';
import { jsonTooDeep, tooDeepMessage } from '../wire/json-depth.js';

/**
 * Presence roster rules (protocol §2.2, §4, §5.2): members are keyed by user_id, the
 * subscription_succeeded payload lists every member (user_id → user_info) including the subscriber.
 */

export interface MemberIdentity {
  readonly userId: string;
  readonly info: unknown;
}

export type IdentityResult = Result<MemberIdentity>;

export interface PresenceLimits {
  readonly maxUserIdLength: number;
  readonly maxPresenceUserInfoBytes: number;
}

/** Parses the exact channel_data string the client signed. user_id may be a string or a number. */
export function parseChannelData(raw: string, limits: PresenceLimits): IdentityResult {
  if (jsonTooDeep(raw)) return fail(tooDeepMessage('channel_data'));
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch {
    return fail('channel_data is not valid JSON');
  }
  if (typeof data !== 'object' || data === null) return fail('channel_data must be a JSON object');
  const { user_id: id, user_info: info } = data as { user_id?: unknown; user_info?: unknown };
  return identity(id, info, limits);
}

export function identity(id: unknown, info: unknown, limits: PresenceLimits): IdentityResult {
  if (!((typeof id === 'string' && id.length > 0) || (typeof id === 'number' && Number.isFinite(id)))) {
    return fail('user_id must be a non-empty string or a number');
  }
  const userId = String(id);
  if (userId.length > limits.maxUserIdLength) {
    return fail(`user_id is ${userId.length} characters; the limit is ${limits.maxUserIdLength}`);
  }
  const infoBytes = info === undefined ? 0 : Buffer.byteLength(JSON.stringify(info), 'utf8');
  if (infoBytes > limits.maxPresenceUserInfoBytes) {
    return fail(`user_info is ${infoBytes} bytes; the limit is ${limits.maxPresenceUserInfoBytes}`);
  }
  return ok({ userId, info });
}

/** `{presence:{ids,hash,count}}` as the JSON string pusher_internal:subscription_succeeded carries. */
export function presencePayload(members: ReadonlyMap<string, unknown>): string {
  const ids: string[] = [];
  const hash = Object.create(null) as Record<string, unknown>;
  for (const [userId, info] of members) {
    ids.push(userId);
    hash[userId] = info ?? null;
  }
  return JSON.stringify({ presence: { ids, hash, count: ids.length } });
}
