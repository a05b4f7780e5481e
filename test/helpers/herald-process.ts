/**
 * Runs the real CLI (`node <build>/src/main.js start --config FILE`) as a child process for
 * the operations tests (signals, reload, logs). The build is a fresh `tsc` of src/ into
 * node_modules/.cache/herald-build-<hash of src>, made once per source state: test files
 * running in parallel share it (the first builds under a lock, the others wait for it), and a
 * stale dist/ can never be tested by mistake. It lives under node_modules so that the build's
 * imports resolve to the checkout's packages.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CACHE = join(ROOT, 'node_modules', '.cache');
const LOCK_STALE_MS = 120_000;

function sourceHash(): string {
  const h = createHash('sha256');
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.ts')) h.update(path).update(readFileSync(path));
    }
  };
  walk(join(ROOT, 'src'));
  h.update(readFileSync(join(ROOT, 'package.json'))).update(readFileSync(join(ROOT, 'tsconfig.json')));
  return h.digest('hex').slice(0, 16);
}

function compile(outDir: string): void {
  mkdirSync(outDir, { recursive: true });
  const tsconfig = join(outDir, 'tsconfig.json');
  writeFileSync(
    tsconfig,
    JSON.stringify({
      extends: join(ROOT, 'tsconfig.json'),
      include: [join(ROOT, 'src/**/*.ts')],
      // Emit only: `npm test` type-checks first, and the output is the same (a third of the time).
      compilerOptions: { outDir, rootDir: ROOT, noEmit: false, sourceMap: false, noCheck: true },
    }),
  );
  const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', tsconfig], { encoding: 'utf8' });
  // Only a missing output is fatal: a type error elsewhere in the tree must not stop these tests.
  if (!existsSync(join(outDir, 'src/main.js'))) throw new Error(`tsc produced no build:\n${r.stdout}${r.stderr}`);
}

/** Path of the built CLI entry for the current sources; builds it once if needed. */
export async function buildCli(): Promise<string> {
  const final = join(CACHE, `herald-build-${sourceHash()}`);
  const main = join(final, 'src/main.js');
  const lock = `${final}.lock`;
  mkdirSync(CACHE, { recursive: true });
  while (!existsSync(main)) {
    try {
      mkdirSync(lock);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // Another test file is building this same source state: wait for its result, or for its
      // lock to go (it failed); a lock still there after LOCK_STALE_MS belongs to a killed run.
      const built = (): boolean => existsSync(main) || !existsSync(lock);
      await waitFor(built, 'a parallel test file to build the CLI', LOCK_STALE_MS, 100).catch(() => rmSync(lock, { recursive: true, force: true }));
      continue;
    }
    try {
      const tmp = `${final}.tmp-${process.pid}`;
      compile(tmp);
      renameSync(tmp, final);
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }
  return main;
}

export type LogLine = Record<string, unknown> & { msg?: string };

export interface HeraldProcess {
  readonly child: ChildProcess;
  /** Every stdout line, raw, in order (pino writes JSON lines to stdout). */
  readonly stdout: string[];
  readonly stderr: string[];
  /** The parsed JSON log lines. */
  readonly logs: LogLine[];
  readonly port: number;
  readonly metricsPort: number;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>;
  /** The first log line (already seen or future) matching `pred`, after `from` lines. */
  waitLog(pred: (l: LogLine) => boolean, what: string, from?: number, ms?: number): Promise<LogLine>;
}

export interface HeraldOptions {
  readonly pidFile?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** More `herald start` arguments (e.g. --take-over). */
  readonly args?: readonly string[];
}

/** A spawned CLI that may not listen (a refused start): no ports. */
export type SpawnedHerald = Omit<HeraldProcess, 'port' | 'metricsPort'>;

/** Spawns `herald start --config file [--pid-file]` and resolves once it logs "herald listening". */
export async function startHerald(configFile: string, opts: HeraldOptions = {}): Promise<HeraldProcess> {
  const spawned = await spawnHerald(configFile, opts);
  const listening = await spawned.waitLog((l) => l.msg === 'herald listening', 'herald listening');
  const metrics = String(listening.metrics ?? '');
  return { ...spawned, port: Number(listening.port), metricsPort: metrics === 'off' ? 0 : Number(metrics.split(':').pop()) };
}

/** Spawns `herald start --config file [--pid-file] [args]` without waiting for anything. */
export async function spawnHerald(configFile: string, opts: HeraldOptions = {}): Promise<SpawnedHerald> {
  const main = await buildCli();
  const args = [main, 'start', '--config', configFile, ...(opts.pidFile ? ['--pid-file', opts.pidFile] : []), ...(opts.args ?? [])];
  // Each process gets its own state directory (unless the test names one), so test runs never
  // write into the checkout's .herald-state or share usage between parallel files.
  const stateDir = mkdtempSync(join(tmpdir(), 'herald-proc-state-'));
  const env = { ...process.env, HERALD_STATE_DIR: stateDir, ...opts.env };
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const logs: LogLine[] = [];
  const waiters = new Set<() => void>();
  const wake = (): void => {
    for (const w of [...waiters]) w();
  };
  lines(child.stdout, (line) => {
    stdout.push(line);
    try {
      logs.push(JSON.parse(line) as LogLine);
    } catch {
      logs.push({ msg: `<non-JSON stdout> ${line}` });
    }
    wake();
  });
  lines(child.stderr, (line) => {
    stderr.push(line);
    wake();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>((resolve) => {
    child.once('exit', (code, signal) => {
      resolve({ code, signal, atMs: Date.now() });
      wake();
    });
  });
  let dead = false;
  void exited.then(() => {
    dead = true;
  });
  const waitLog = (pred: (l: LogLine) => boolean, what: string, from = 0, ms = 10_000): Promise<LogLine> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = logs.slice(from).find(pred);
        if (hit !== undefined) return done(() => resolve(hit));
        if (dead) return done(() => reject(new Error(`herald exited before "${what}"; stderr: ${stderr.join('\n')}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`timed out waiting for log "${what}"; logs: ${stdout.join('\n')}`))), ms);
      const done = (f: () => void): void => {
        clearTimeout(timer);
        waiters.delete(check);
        f();
      };
      waiters.add(check);
      check();
    });
  return { child, stdout, stderr, logs, exited, waitLog };
}

function lines(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void): void {
  let buf = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (chunk: string) => {
    buf += chunk;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      onLine(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
}

/** Writes a config file (JSON) atomically, as an operator's editor or deploy tool would. */
export function writeConfig(file: string, config: unknown): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, typeof config === 'string' ? config : JSON.stringify(config, null, 2));
  renameSync(tmp, file);
}
