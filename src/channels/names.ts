/**
 * Channel kinds and name rules (protocol §4). Prefixes are checked in pusher-js's order;
 * cache variants keep their base kind and set `cache`.
 */
export type ChannelKind = 'public' | 'private' | 'encrypted' | 'presence' | 'user';

export interface ChannelType {
  readonly kind: ChannelKind;
  readonly cache: boolean;
}

export const USER_CHANNEL_PREFIX = '#server-to-user-';
const CHANNEL_CHARS = /^[A-Za-z0-9_\-=@,.;]+$/;
const T = (kind: ChannelKind, cache: boolean): ChannelType => Object.freeze({ kind, cache });
const PUBLIC = T('public', false);
const PUBLIC_CACHE = T('public', true);
const PRIVATE = T('private', false);
const PRIVATE_CACHE = T('private', true);
const ENCRYPTED = T('encrypted', false);
const ENCRYPTED_CACHE = T('encrypted', true);
const PRESENCE = T('presence', false);
const PRESENCE_CACHE = T('presence', true);
const USER = T('user', false);

export function channelType(name: string): ChannelType {
  if (name.startsWith('private-')) {
    if (name.startsWith('private-encrypted-')) return name.startsWith('private-encrypted-cache-') ? ENCRYPTED_CACHE : ENCRYPTED;
    return name.startsWith('private-cache-') ? PRIVATE_CACHE : PRIVATE;
  }
  if (name.startsWith('presence-')) return name.startsWith('presence-cache-') ? PRESENCE_CACHE : PRESENCE;
  if (name.startsWith(USER_CHANNEL_PREFIX)) return USER;
  return name.startsWith('cache-') ? PUBLIC_CACHE : PUBLIC;
}

export function needsAuth(type: ChannelType): boolean {
  return type.kind === 'private' || type.kind === 'encrypted' || type.kind === 'presence';
}

/** Returns a reason when the name is not a valid channel name, else undefined. */
export function channelNameProblem(name: unknown, maxLength: number): string | undefined {
  if (typeof name !== 'string' || name.length === 0) return 'Channel name must be a non-empty string';
  if (name.length > maxLength) return `Channel name is ${name.length} characters; the limit is ${maxLength}`;
  const body = name.startsWith(USER_CHANNEL_PREFIX) ? name.slice(1) : name;
  if (!CHANNEL_CHARS.test(body)) {
    return `Channel name "${name.slice(0, 64)}" has characters outside A-Z a-z 0-9 _ - = @ , . ;`;
  }
  return undefined;
}

/** Event names: non-empty, bounded; `pusher:` names are reserved to the server. */
export function eventNameProblem(name: unknown, maxLength: number): string | undefined {
  if (typeof name !== 'string' || name.length === 0) return 'Event name must be a non-empty string';
  if (name.length > maxLength) return `Event name is ${name.length} characters; the limit is ${maxLength}`;
  if (name.startsWith('pusher:') || name.startsWith('pusher_internal:')) return `Event name "${name}" is reserved`;
  return undefined;
}
