/**
 * Durable, atomic replacement of a file under the state directory: write a temp file beside
 * it, fsync it, rename it over the target, fsync the directory. A crash leaves either the old
 * file or the new one, never a torn one. The temp file is removed when anything fails.
 */
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

export async function writeFileAtomic(path: string, text: string): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    const file = await open(tmp, 'w', 0o600);
    try {
      await file.writeFile(text, 'utf8');
      await file.datasync();
    } finally {
      await file.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  const d = await open(dir, 'r');
  try {
    await d.sync(); // makes the rename itself durable (POSIX)
  } finally {
    await d.close();
  }
}
