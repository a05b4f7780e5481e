/**
 * Pending webhook work saved across a graceful restart: undelivered requests (with their
 * attempts and next attempt time) and held channel_vacated / member_removed events (with their
 * due time). One JSON file in the state directory, replaced atomically (write a temp file,
 * fsync, rename), read once at start and then removed, so a later crash cannot replay
 * requests that were delivered in the meantime.
 */
import { readFile, rename, rm } from 'node:fs/promises';
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

/** Reads the saved state; undefined when there is none. Throws on unreadable or non-JSON files. */
export async function loadState(file: string): Promise<LoadedState | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const raw = JSON.parse(text) as Partial<Record<keyof WebhookState, unknown>>;
  if (raw === null || typeof raw !== 'object' || raw.version !== STATE_VERSION) {
    throw new Error(`not a version ${STATE_VERSION} webhook state file`);
  }
  const deliveries = listOf(raw.deliveries).filter(isDelivery);
  const held = listOf(raw.held).filter(isHeld);
  const skipped = listOf(raw.deliveries).length + listOf(raw.held).length - deliveries.length - held.length;
  return { deliveries, held, skipped };
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

function listOf(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function isDelivery(v: unknown): v is StoredDelivery {
  const d = v as Record<string, unknown> | null;
  return (
    typeof d === 'object' && d !== null &&
    typeof d.appId === 'string' && typeof d.url === 'string' && typeof d.body === 'string' &&
    Array.isArray(d.types) && d.types.every((t) => (WEBHOOK_EVENT_TYPES as readonly unknown[]).includes(t)) &&
    isCount(d.events) && isCount(d.createdAtMs) && isCount(d.attempts) && isCount(d.nextAttemptAtMs)
  );
}

function isHeld(v: unknown): v is StoredHeld {
  const h = v as Record<string, unknown> | null;
  if (typeof h !== 'object' || h === null) return false;
  if (typeof h.appId !== 'string' || typeof h.channel !== 'string' || !isCount(h.dueAtMs)) return false;
  if (h.name === 'channel_vacated') return h.userId === undefined;
  return h.name === 'member_removed' && typeof h.userId === 'string';
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}
