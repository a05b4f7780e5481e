/**
 * Pending webhook work saved across a graceful restart: undelivered requests (with their
 * attempts and next attempt time) and held channel_vacated / member_removed events (with their
 * due time). One JSON file in the state directory, replaced atomically (write a temp file,
 * fsync, rename), read once at start and then removed, so a later crash cannot replay
 * requests that were delivered in the meantime.
 */
import { readFile, rename, rm } from 'node:fs/promises';
import { z } from 'zod';
import { writeFileAtomic } from '../state/atomic-file.js';
import { WEBHOOK_EVENT_TYPES } from '../config/config.js';
import type { Delivery } from './outbox.js';

export const STATE_VERSION = 1;

/** A delivery as saved: the outbox's record without its id and in-flight state. */
export type StoredDelivery = Readonly<Pick<Delivery, 'appId' | 'url' | 'body' | 'types' | 'events' | 'createdAtMs' | 'attempts' | 'nextAttemptAtMs'>>;

export interface StoredHeld {
  readonly appId: string;
  readonly name: 'channel_vacated' | 'member_removed';
  readonly channel: string;
  readonly userId?: string;
  readonly dueAtMs: number;
}

export interface WebhookState {
  readonly version: number;
  readonly savedAtMs: number;
  readonly deliveries: readonly StoredDelivery[];
  readonly held: readonly StoredHeld[];
}

/** Writes the state atomically; with nothing pending, removes any old file instead. */
export async function saveState(file: string, state: WebhookState): Promise<void> {
  if (state.deliveries.length === 0 && state.held.length === 0) {
    await rm(file, { force: true });
    return;
  }
  await writeFileAtomic(file, JSON.stringify(state));
}

export interface LoadedState {
  readonly deliveries: StoredDelivery[];
  readonly held: StoredHeld[];
  /** Entries that were not well-formed and were skipped. */
  readonly skipped: number;
}

const COUNT = z.int().min(0);

const DELIVERY_SCHEMA: z.ZodType<StoredDelivery> = z.object({
  appId: z.string(),
  url: z.string(),
  body: z.string(),
  types: z.array(z.enum(WEBHOOK_EVENT_TYPES)),
  events: COUNT,
  createdAtMs: COUNT,
  attempts: COUNT,
  nextAttemptAtMs: COUNT,
});

/** A vacated channel names no user; a removed member always does. */
const HELD_SCHEMA: z.ZodType<StoredHeld> = z.discriminatedUnion('name', [
  z.object({ appId: z.string(), name: z.literal('channel_vacated'), channel: z.string(), userId: z.never().optional(), dueAtMs: COUNT }),
  z.object({ appId: z.string(), name: z.literal('member_removed'), channel: z.string(), userId: z.string(), dueAtMs: COUNT }),
]);

/** The file as a whole: its version must match; a missing or non-list section counts as empty. */
const STATE_SCHEMA = z.object({
  version: z.literal(STATE_VERSION),
  deliveries: z.array(z.unknown()).catch([]),
  held: z.array(z.unknown()).catch([]),
});

/** Reads the saved state; undefined when there is none. Throws on unreadable or non-JSON files. */
export async function loadState(file: string): Promise<LoadedState | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const raw = STATE_SCHEMA.safeParse(JSON.parse(text));
  if (!raw.success) throw new Error(`not a version ${STATE_VERSION} webhook state file`);
  const deliveries = wellFormed(raw.data.deliveries, DELIVERY_SCHEMA);
  const held = wellFormed(raw.data.held, HELD_SCHEMA);
  const skipped = raw.data.deliveries.length + raw.data.held.length - deliveries.length - held.length;
  return { deliveries, held, skipped };
}

/** The entries `schema` accepts, as it parsed them (unknown fields dropped). */
function wellFormed<T>(entries: readonly unknown[], schema: z.ZodType<T>): T[] {
  const out: T[] = [];
  for (const entry of entries) {
    const parsed = schema.safeParse(entry);
    if (parsed.success) out.push(parsed.data);
  }
  return out;
}

/** Moves an unreadable state file aside (kept for inspection) so the next save does not lose it. */
export async function quarantine(file: string, nowMs: number): Promise<string> {
  const aside = `${file}.bad-${nowMs}`;
  await rename(file, aside);
  return aside;
}

export async function removeState(file: string): Promise<void> {
  await rm(file, { force: true });
}
