/**
 * Creates a new app entry with a random id, key and secret, so app owners never invent
 * secrets by hand. The entry is validated against the same schema the server uses.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { customAlphabet } from 'nanoid';
import { parseConfig, type AppConfig } from '../config/config.js';

const digits = customAlphabet('0123456789', 7);
const hex = customAlphabet('0123456789abcdef', 20);
const secretChars = customAlphabet('0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ', 40);

export function newAppEntry(name?: string): Pick<AppConfig, 'id' | 'key' | 'secret' | 'name'> {
  const id = digits().replace(/^0/, '1');
  return { id, key: hex(), secret: secretChars(), name: name ?? `app-${id}` };
}

/**
 * Adds an entry to the config file (created if missing) and returns it. The whole new file is
 * validated before it replaces the old one, atomically.
 */
export function addAppToFile(file: string, name?: string): ReturnType<typeof newAppEntry> {
  const raw = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
  const apps = Array.isArray(raw.apps) ? [...(raw.apps as unknown[])] : [];
  const entry = newAppEntry(name);
  const next = { ...raw, apps: [...apps, entry] };
  parseConfig(next, file);
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
  return entry;
}
