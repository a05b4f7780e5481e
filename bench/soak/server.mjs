// The Herald process under test: a temp config and state directory, the child process, the
// ports parsed from its "herald listening" log line, its warnings, and a bounded stop.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

export const HOST = '127.0.0.1';
export const APP = Object.freeze({ id: 'soak-app', key: 'soak-key', secret: 'soak-secret-0123456789' });

const PER_ADDRESS_HIGH = 1_000_000;

/**
 * The soak config. Only keys Herald's schema knows (it refuses unknown ones). logLevel is
 * "info" because the "herald listening" line that carries the ports is an info line; Herald
 * rate-limits its per-connection info lines, so this stays a trickle under load.
 */
export function soakConfig(stateDir) {
  return {
    host: HOST,
    port: 0,
    metricsPort: 0,
    logLevel: 'info',
    stateDir,
    shutdownGraceSec: 3,
    maxConnectionsPerIp: PER_ADDRESS_HIGH,
    ipConnectionsPerSec: PER_ADDRESS_HIGH,
    ipConnectionBurst: PER_ADDRESS_HIGH,
    ipPublicSubscribesPerSec: PER_ADDRESS_HIGH,
    ipPublicSubscribeBurst: PER_ADDRESS_HIGH,
    apps: [
      {
        ...APP,
        enableClientEvents: true,
        limits: {
          maxConnections: 100_000,
          maxMessagesPerDay: 1_000_000_000,
          maxClientEventsPerSec: 100,
          maxRestRequestsPerSec: 100_000,
          maxPresenceMembers: 1000, // the steady presence channel holds every steady reader
        },
      },
    ],
  };
}

const LEVEL_NAMES = { 40: 'warn', 50: 'error', 60: 'fatal' };
const KEPT_LINES = 50;
const STDERR_TAIL = 8192;

/**
 * One Herald child. `start()` resolves once the listening line gave both ports; `exited` is
 * set (with code/signal/time) if the process ends, whoever ended it. Warn-and-above log lines
 * are counted and the first KEPT_LINES kept; stderr keeps its last 8 KB for a crash report.
 */
export class HeraldProcess {
  port = 0;
  metricsPort = 0;
  pid = 0;
  exited = undefined;
  warnings = { count: 0, byMessage: Object.create(null), first: [] };
  stderrTail = '';
  #child;
  #dir;
  #logStream;
  #onExit = [];

  constructor(repoDir, { keepState = false } = {}) {
    this.repoDir = repoDir;
    this.keepState = keepState;
  }

  get alive() {
    return this.#child !== undefined && this.exited === undefined;
  }

  /** Calls fn({code, signal}) when the process ends (at most once). */
  onExit(fn) {
    this.#onExit.push(fn);
  }

  async start(timeoutMs = 20_000) {
    this.#dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-soak-'));
    const configFile = path.join(this.#dir, 'config.json');
    fs.writeFileSync(configFile, JSON.stringify(soakConfig(path.join(this.#dir, 'state')), null, 2));
    this.#logStream = fs.createWriteStream(path.join(this.#dir, 'server.log'));
    const main = path.join(this.repoDir, 'dist', 'src', 'main.js');
    if (!fs.existsSync(main)) throw new Error(`${main} is missing: run \`npm run build\` first (npm run soak does)`);
    const child = spawn(process.execPath, [main, 'start', '--config', configFile], {
      cwd: this.repoDir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_ENV: 'production' },
    });
    this.#child = child;
    this.pid = child.pid;
    child.on('exit', (code, signal) => {
      this.exited = { code, signal, at: Date.now() };
      for (const fn of this.#onExit.splice(0)) fn(this.exited);
    });
    child.stderr.on('data', (chunk) => {
      this.#logStream.write(chunk);
      this.stderrTail = (this.stderrTail + chunk.toString()).slice(-STDERR_TAIL);
    });
    const listening = new Promise((resolve, reject) => {
      const lines = readline.createInterface({ input: child.stdout });
      lines.on('line', (line) => {
        this.#logStream.write(`${line}\n`);
        const entry = parseLogLine(line);
        if (entry?.msg === 'herald listening') resolve(entry);
        else if (entry) this.#noteWarning(entry);
      });
      child.once('exit', (code, signal) => reject(new Error(`herald exited before listening (code ${code}, signal ${signal}): ${this.stderrTail.slice(-2000)}`)));
      setTimeout(() => reject(new Error(`herald did not log "herald listening" within ${timeoutMs} ms`)), timeoutMs).unref();
    });
    const entry = await listening;
    this.port = Number(entry.port);
    this.metricsPort = Number(String(entry.metrics).split(':').pop());
    if (!(this.port > 0) || !(this.metricsPort > 0)) throw new Error(`cannot read the ports from the listening line: ${JSON.stringify(entry)}`);
    return this;
  }

  #noteWarning(entry) {
    if (!(entry.level >= 40)) return;
    const w = this.warnings;
    w.count++;
    const key = `${LEVEL_NAMES[entry.level] ?? entry.level}: ${String(entry.msg).slice(0, 100)}`;
    if (key in w.byMessage || Object.keys(w.byMessage).length < 50) w.byMessage[key] = (w.byMessage[key] ?? 0) + 1;
    if (w.first.length < KEPT_LINES) w.first.push(entry);
  }

  /**
   * SIGTERM (Herald drains for at most shutdownGraceSec), SIGKILL after graceMs.
   * Resolves with how it ended; never throws. Removes the temp dir unless keepState.
   */
  async stop(graceMs = 8000) {
    if (this.alive) {
      const ended = new Promise((resolve) => this.onExit(resolve));
      signal(this.pid, 'SIGTERM');
      const timer = setTimeout(() => signal(this.pid, 'SIGKILL'), graceMs);
      await ended;
      clearTimeout(timer);
    }
    await new Promise((resolve) => this.#logStream?.end(resolve) ?? resolve());
    if (!this.keepState && this.#dir) fs.rmSync(this.#dir, { recursive: true, force: true });
    return this.exited;
  }

  /** Synchronous last resort for process exit paths: SIGKILL if still running, temp dir removed unless keepState. */
  killNow() {
    if (this.alive) signal(this.pid, 'SIGKILL');
    if (!this.keepState && this.#dir) fs.rmSync(this.#dir, { recursive: true, force: true });
  }

  get stateDir() {
    return this.#dir;
  }
}

function signal(pid, name) {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

function parseLogLine(line) {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}
