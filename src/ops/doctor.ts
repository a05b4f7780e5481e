/**
 * `herald doctor [--config FILE]`: checks the machine and the config the way `herald start` would
 * meet them, and prints one line per check. A FAIL line is a problem that stops Herald or caps it
 * well below its config (no native uWebSockets.js, a config error, too few file descriptors for
 * maxConnections, an unwritable stateDir, Redis not answering); any FAIL makes the exit code 1.
 * WARN lines (the public dev app, a stateDir locked by a running Herald, the pure-JS fallback
 * allowed) do not. The uWS probe is passed in by the CLI: only src/transport/ loads uWS.
 */
import { constants } from 'node:fs';
import { access, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { loadConfig, type HeraldConfig } from '../config/config.js';
import { ConfigError } from '../config/schema.js';
import { LOCK_FILE, pidAlive } from '../state/lock.js';

export type CheckStatus = 'ok' | 'info' | 'warn' | 'fail';

export interface Check {
  status: CheckStatus;
  name: string;
  detail: string;
}

/** What the transport's loader found (src/transport/uws-load.ts summarizeUws). */
export interface UwsSummary {
  nodeVersion: string;
  abi: string;
  platform: string;
  arch: string;
  glibc: string | undefined;
  /** e.g. "trufflesuite 20.30.0-unofficial.0"; undefined when no build loaded at all. */
  build: string | undefined;
  native: boolean;
  /** Each build tried and how it went. */
  tried: string;
}

export interface DoctorOptions {
  configFile: string | undefined;
  env: NodeJS.ProcessEnv;
  probeUws: () => UwsSummary;
  /** The text of /proc/self/limits; undefined where there is none (not Linux). */
  readLimits?: () => Promise<string | undefined>;
  redisTimeoutMs?: number;
}

/** Descriptors Herald needs besides one per connection: listen sockets, metrics, Redis, state files, logs. */
export const FD_RESERVE = 64;
const REDIS_TIMEOUT_MS = 3000;

export async function runDoctor(options: DoctorOptions): Promise<Check[]> {
  const uws = options.probeUws();
  const checks: Check[] = [
    { status: 'info', name: 'node', detail: `${uws.nodeVersion} (ABI ${uws.abi})` },
    { status: 'info', name: 'platform', detail: `${uws.platform} ${uws.arch}, ${uws.glibc === undefined ? 'no glibc' : `glibc ${uws.glibc}`}` },
  ];
  let config: HeraldConfig | undefined;
  try {
    const loaded = loadConfig(options.configFile, options.env);
    config = loaded.config;
    checks.push(
      loaded.file === undefined
        ? { status: 'warn', name: 'config', detail: 'no config file (--config or HERALD_CONFIG): the public development app would be served' }
        : { status: 'ok', name: 'config', detail: `${loaded.file}: valid, ${config.apps.length} app(s)` },
    );
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    checks.push({ status: 'fail', name: 'config', detail: err.message });
  }
  checks.push(uwsCheck(uws, config?.allowUwsFallback === true));
  if (config === undefined) return checks;
  checks.push(fdCheck(config, await (options.readLimits ?? readProcLimits)()));
  checks.push(...(await stateDirChecks(config.stateDir)));
  if (config.adapter.driver === 'redis') checks.push(await redisCheck(config.adapter.redisUrl, options.redisTimeoutMs ?? REDIS_TIMEOUT_MS));
  return checks;
}

function uwsCheck(uws: UwsSummary, fallbackAllowed: boolean): Check {
  const tried = `tried: ${uws.tried}`;
  if (uws.native) return { status: 'ok', name: 'uws', detail: `${uws.build ?? '?'}, native${/failed|fallback/.test(uws.tried) ? ` (${tried})` : ''}` };
  if (uws.build !== undefined && fallbackAllowed) {
    return { status: 'warn', name: 'uws', detail: `${uws.build}, pure-JS fallback, allowed by allowUwsFallback: slow (${tried})` };
  }
  return {
    status: 'fail',
    name: 'uws',
    detail:
      `no native uWebSockets.js for Node ${uws.nodeVersion} on ${uws.platform}-${uws.arch}: herald start refuses (${tried}). ` +
      'Native: Node 20 anywhere; Node 22/24/25 on glibc ≥ 2.38, macOS or Windows',
  };
}

async function readProcLimits(): Promise<string | undefined> {
  try {
    return await readFile('/proc/self/limits', 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** The soft and hard "Max open files" from /proc/self/limits (Node raises the soft one to the hard one at startup). */
export function openFileLimits(limits: string): { soft: number; hard: number } | undefined {
  const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(limits);
  if (!m) return undefined;
  const n = (v: string | undefined): number => (v === 'unlimited' || v === undefined ? Infinity : Number(v));
  return { soft: n(m[1]), hard: n(m[2]) };
}

function fdCheck(config: HeraldConfig, limits: string | undefined): Check {
  const parsed = limits === undefined ? undefined : openFileLimits(limits);
  if (parsed === undefined) return { status: 'info', name: 'open files', detail: 'limit unknown here (no /proc/self/limits); check `ulimit -n`' };
  const needed = config.maxConnections + FD_RESERVE + config.webhookMaxInFlight;
  const have = `${parsed.soft} (hard ${parsed.hard})`;
  const sum = `maxConnections ${config.maxConnections} + ${FD_RESERVE + config.webhookMaxInFlight} for listeners, webhooks, Redis and files = ${needed}`;
  if (parsed.soft >= needed) return { status: 'ok', name: 'open files', detail: `${have} ≥ ${sum}` };
  return {
    status: 'fail',
    name: 'open files',
    detail: `${have} < ${sum}: connections past ${Math.max(0, parsed.soft - FD_RESERVE - config.webhookMaxInFlight)} fail with EMFILE. Raise it (systemd LimitNOFILE=, ulimit -n) or lower maxConnections`,
  };
}

async function stateDirChecks(stateDir: string): Promise<Check[]> {
  const dir = resolve(stateDir);
  const info = await stat(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (info === undefined) {
    const parent = await nearestExisting(dirname(dir));
    const ok = await access(parent, constants.W_OK).then(() => true, () => false);
    return [
      ok
        ? { status: 'ok', name: 'stateDir', detail: `${dir} does not exist yet; it will be created (${parent} is writable)` }
        : { status: 'fail', name: 'stateDir', detail: `${dir} does not exist and cannot be created: ${parent} is not writable` },
    ];
  }
  if (!info.isDirectory()) return [{ status: 'fail', name: 'stateDir', detail: `${dir} is not a directory` }];
  return [await writableCheck(dir), await lockCheck(dir)];
}

async function nearestExisting(dir: string): Promise<string> {
  for (let d = dir; ; d = dirname(d)) {
    if (await stat(d).then(() => true, () => false)) return d;
    if (dirname(d) === d) return d;
  }
}

async function writableCheck(dir: string): Promise<Check> {
  const probe = join(dir, `.herald-doctor-${process.pid}`);
  try {
    await writeFile(probe, 'doctor\n', { mode: 0o600 });
    await rm(probe);
    return { status: 'ok', name: 'stateDir', detail: `${dir} is writable` };
  } catch (err) {
    return { status: 'fail', name: 'stateDir', detail: `${dir} is not writable: ${(err as Error).message}` };
  }
}

async function lockCheck(dir: string): Promise<Check> {
  const file = join(dir, LOCK_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { status: 'ok', name: 'lock', detail: `${file}: none, no Herald holds this stateDir` };
    return { status: 'fail', name: 'lock', detail: `${file} cannot be read: ${(err as Error).message}` };
  }
  const pid = /^\d+$/.test(text.trim()) ? Number(text.trim()) : 0;
  if (pid > 0 && pidAlive(pid)) {
    return { status: 'warn', name: 'lock', detail: `${file}: held by live pid ${pid}; another \`herald start\` on this stateDir is refused unless --take-over` };
  }
  return { status: 'ok', name: 'lock', detail: `${file}: stale (pid ${pid || '?'} is not running); the next start takes it over` };
}

/** The URL with any password shown as ****. */
export function maskUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '****';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}

async function redisCheck(url: string, timeoutMs: number): Promise<Check> {
  const shown = maskUrl(url);
  const client = new Redis(url, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  let lastError = '';
  client.on('error', (err: Error) => (lastError = err.message));
  let timer: NodeJS.Timeout | undefined;
  const started = Date.now();
  try {
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)));
    const answer = await Promise.race([client.connect().then(() => client.ping()), timeout]);
    return { status: 'ok', name: 'redis', detail: `${shown} answered ${answer} in ${Date.now() - started} ms` };
  } catch (err) {
    const why = lastError || (err as Error).message;
    return { status: 'fail', name: 'redis', detail: `${shown} does not answer: ${why}` };
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}

const MARK: Record<CheckStatus, string> = { ok: 'ok  ', info: '    ', warn: 'WARN', fail: 'FAIL' };

export function formatDoctor(checks: Check[]): string {
  const width = Math.max(...checks.map((c) => c.name.length));
  const lines = checks.map((c) => `${MARK[c.status]}  ${c.name.padEnd(width)}  ${c.detail}`);
  const problems = checks.filter((c) => c.status === 'fail').length;
  lines.push(problems === 0 ? 'no problems found' : `${problems} problem${problems === 1 ? '' : 's'} found`);
  return lines.join('\n');
}

/** Runs the checks, prints them, and returns the exit code: 1 when any check failed. */
export async function doctorCommand(options: DoctorOptions): Promise<number> {
  const checks = await runDoctor(options);
  console.log(formatDoctor(checks));
  return checks.some((c) => c.status === 'fail') ? 1 : 0;
}
