/**
 * The pid file that lets `herald reload --pid-file FILE` find a running server and send it
 * SIGHUP (the same as `kill -HUP <pid>`).
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';

/** A pid file that cannot be used; the CLI prints its message without a stack. */
export class PidFileError extends Error {}

export function writePidFile(file: string): void {
  writeFileSync(file, `${process.pid}\n`);
}

/** Removes the pid file if it still names this process (a newer server may have replaced it). */
export function removePidFile(file: string): void {
  try {
    if (readFileSync(file, 'utf8').trim() === String(process.pid)) rmSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** Sends SIGHUP to the pid in `file`; throws with a clear message when it cannot. */
export function signalReload(file: string): number {
  let raw: string;
  try {
    raw = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new PidFileError(`cannot read pid file ${file}: ${(err as Error).message}`);
  }
  if (!/^\d+$/.test(raw)) throw new PidFileError(`pid file ${file} does not hold a process id`);
  const pid = Number(raw);
  try {
    process.kill(pid, 'SIGHUP');
  } catch (err) {
    throw new PidFileError(`cannot signal process ${pid} from ${file}: ${(err as Error).message}`);
  }
  return pid;
}
