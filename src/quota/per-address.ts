/**
 * What one client address may hold or cost (issue 11): concurrent connections, a connection
 * rate, and a rate of unauthenticated (public) subscriptions, each a finite per-address limit
 * so one address can neither fill an app's connection quota nor burn its message quota.
 * IPv6 addresses are grouped by their /64 (one subscriber line usually owns a whole /64).
 * Memory is bounded: an address's record lives while it has connections, and afterwards only
 * until its buckets have refilled (swept by `sweep`); at most `maxAddresses` records exist at
 * once (a client rotating through IPv6 prefixes gets 4102 instead of more memory).
 */
import { BlockList, isIP } from 'node:net';

export interface AddressLimitSettings {
  readonly maxConnectionsPerIp: number;
  readonly ipConnectionsPerSec: number;
  readonly ipConnectionBurst: number;
  readonly ipPublicSubscribesPerSec: number;
  readonly ipPublicSubscribeBurst: number;
}

interface Bucket {
  tokens: number;
  atMs: number;
}

interface AddressRecord {
  connections: number;
  connect: Bucket;
  subscribe: Bucket;
}

export type AddressVerdict = 'ok' | 'too_many_connections' | 'connection_rate';

/** Refills a token bucket of `burst` tokens at `perSec`, then takes one; false when empty. */
function take(b: Bucket, perSec: number, burst: number, now: number): boolean {
  b.tokens = Math.min(burst, b.tokens + (Math.max(0, now - b.atMs) * perSec) / 1000);
  b.atMs = now;
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

function full(b: Bucket, perSec: number, burst: number, now: number): boolean {
  return b.tokens + ((now - b.atMs) * perSec) / 1000 >= burst;
}

/**
 * The eight 16-bit groups of an IPv6 address (as numbers), whatever its spelling: `::`
 * expanded, a trailing dotted IPv4 part taken as two groups. The caller has checked isIP === 6.
 */
function ipv6Groups(address: string): number[] {
  let text = address.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted !== null) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const parse = (part: string): number[] => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const left = parse(head);
  if (tail === undefined) return left;
  const right = parse(tail);
  return [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
}

/** The IPv4 address inside an IPv4-mapped IPv6 address (::ffff:a.b.c.d in any spelling), if it is one. */
function mappedV4(groups: readonly number[]): string | undefined {
  if (groups.length !== 8 || groups.slice(0, 5).some((g) => g !== 0) || groups[5] !== 0xffff) return undefined;
  const hi = groups[6] ?? 0;
  const lo = groups[7] ?? 0;
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** The key an address is limited under: IPv4 as is, IPv4-mapped IPv6 as its IPv4, other IPv6 by its /64. */
export function addressKey(address: string): string {
  if (isIP(address) !== 6) return address;
  const groups = ipv6Groups(address);
  return mappedV4(groups) ?? `${groups.slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`;
}

/** Addresses tracked at once by default: far above any real population of one node's clients. */
export const MAX_TRACKED_ADDRESSES = 200_000;

export class AddressLimits {
  readonly #records = new Map<string, AddressRecord>();

  constructor(
    readonly settings: () => AddressLimitSettings,
    readonly now: () => number,
    readonly maxAddresses = MAX_TRACKED_ADDRESSES,
  ) {}

  get size(): number {
    return this.#records.size;
  }

  #record(key: string, now: number): AddressRecord {
    let r = this.#records.get(key);
    if (r === undefined) {
      const s = this.settings();
      r = { connections: 0, connect: { tokens: s.ipConnectionBurst, atMs: now }, subscribe: { tokens: s.ipPublicSubscribeBurst, atMs: now } };
      this.#records.set(key, r);
    }
    return r;
  }

  /** Admits one more connection from `key` (counting it) or says which limit refuses it. */
  connect(key: string): AddressVerdict {
    const s = this.settings();
    const now = this.now();
    if (!this.#records.has(key) && this.#records.size >= this.maxAddresses) {
      this.sweep();
      if (this.#records.size >= this.maxAddresses) return 'connection_rate';
    }
    const r = this.#record(key, now);
    if (r.connections >= s.maxConnectionsPerIp) return 'too_many_connections';
    if (!take(r.connect, s.ipConnectionsPerSec, s.ipConnectionBurst, now)) return 'connection_rate';
    r.connections++;
    return 'ok';
  }

  /** A connection admitted by `connect` has gone. */
  disconnect(key: string): void {
    const r = this.#records.get(key);
    if (r !== undefined && r.connections > 0) r.connections--;
  }

  /** Takes one unauthenticated subscription from `key`'s budget; false when it is spent. */
  publicSubscribe(key: string): boolean {
    const s = this.settings();
    const now = this.now();
    return take(this.#record(key, now).subscribe, s.ipPublicSubscribesPerSec, s.ipPublicSubscribeBurst, now);
  }

  /** Forgets addresses with no connection whose buckets are full again (called on a timer). */
  sweep(): void {
    const s = this.settings();
    const now = this.now();
    for (const [key, r] of this.#records) {
      if (
        r.connections === 0 &&
        full(r.connect, s.ipConnectionsPerSec, s.ipConnectionBurst, now) &&
        full(r.subscribe, s.ipPublicSubscribesPerSec, s.ipPublicSubscribeBurst, now)
      ) {
        this.#records.delete(key);
      }
    }
  }
}

/**
 * The trusted proxies' addresses and subnets ("10.0.0.0/8", "::1"), as a block list; throws
 * an Error naming the entry that is neither.
 */
export function trustedProxyList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const parts = entry.split('/');
    const [address = '', bits] = parts;
    if (parts.length > 2) throw new Error(`"${entry}" is not an IP address or subnet`);
    const family = isIP(address);
    if (family === 0) throw new Error(`"${entry}" is not an IP address or subnet`);
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) {
      list.addAddress(address, type);
      continue;
    }
    const prefix = /^\d{1,3}$/.test(bits) ? Number(bits) : NaN;
    if (!(prefix >= 0 && prefix <= (family === 6 ? 128 : 32))) throw new Error(`"${entry}" has an invalid prefix length`);
    list.addSubnet(address, prefix, type);
  }
  return list;
}

function trusted(list: BlockList, address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  const v4 = family === 6 ? mappedV4(ipv6Groups(address)) : undefined;
  return v4 !== undefined ? list.check(v4, 'ipv4') : list.check(address, family === 6 ? 'ipv6' : 'ipv4');
}

/**
 * The client's address: the peer's, unless the peer is a trusted proxy; then the right-most
 * X-Forwarded-For entry that is not itself a trusted proxy (entries left of it can be forged
 * by the client). A malformed entry stops the walk at the last trusted hop's view.
 */
export function clientAddress(peer: string, forwardedFor: string, proxies: BlockList): string {
  if (forwardedFor === '' || !trusted(proxies, peer)) return peer;
  const hops = forwardedFor.split(',');
  let client = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = (hops[i] ?? '').trim();
    if (isIP(hop) === 0) return client;
    client = hop;
    if (!trusted(proxies, hop)) return hop;
  }
  return client;
}
