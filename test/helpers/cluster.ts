/**
 * Several real Herald processes (the built CLI) sharing one Redis: a dedicated redis-server
 * started on a free port for the test, so it can be stopped and restarted without touching
 * anyone else's Redis. Nodes listen on port 0 and report their port in the startup log line.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { CLI, requireBuild } from './cli.js';
import { ONE_ADDRESS_MANY_USERS } from './limits.js';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';

export function redisServerInstalled(): boolean {
  return spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).status === 0;
}

/** A throwaway redis-server: no persistence, its own port. */
export class TestRedis {
  proc: ChildProcess | undefined;
  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<TestRedis> {
    const r = new TestRedis(await freePort());
    await r.start();
    return r;
  }

  async start(): Promise<void> {
    this.proc = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    });
    const client = new Redis(this.url, { lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: 0 });
    client.on('error', () => undefined);
    let last = 'no attempt yet';
    const answers = async (): Promise<boolean> => {
      try {
        await client.connect();
        return (await client.ping()) === 'PONG';
      } catch (err) {
        last = (err as Error).message; // not listening yet: try again
        client.disconnect();
        return false;
      }
    };
    try {
      await waitFor(answers, () => `redis-server on ${this.port} to answer PING (last error: ${last})`, 5000, 50);
    } finally {
      client.disconnect();
    }
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (p === undefined || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  }
}

export interface NodeHandle {
  readonly proc: ChildProcess;
  readonly port: number;
  readonly logs: string[];
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export interface ClusterOptions {
  readonly redisUrl: string;
  readonly keyPrefix: string;
  readonly apps: unknown[];
  readonly extra?: Record<string, unknown>;
  /** Adapter settings over the fast test defaults (heartbeatMs 200, deadAfterMs 1500, …). */
  readonly adapter?: Record<string, unknown>;
}

const dirs: string[] = [];

export async function startNode(opts: ClusterOptions): Promise<NodeHandle> {
  requireBuild();
  const dir = mkdtempSync(join(tmpdir(), 'herald-node-'));
  dirs.push(dir);
  const file = join(dir, 'herald.json');
  writeFileSync(
    file,
    JSON.stringify({
      port: 0,
      metricsEnabled: false,
      logLevel: 'info',
      stateDir: join(dir, 'state'),
      adapter: { driver: 'redis', redisUrl: opts.redisUrl, keyPrefix: opts.keyPrefix, heartbeatMs: 200, deadAfterMs: 1500, usageSyncMs: 100, ...opts.adapter },
      apps: opts.apps,
      ...ONE_ADDRESS_MANY_USERS,
      ...opts.extra,
    }),
  );
  const proc = spawn(process.execPath, [CLI, 'start', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: string[] = [];
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node did not start:\n${logs.join('\n')}`)), 10_000);
    let buf = '';
    proc.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        logs.push(line);
        if (line.includes('"herald listening"')) {
          clearTimeout(timer);
          resolve((JSON.parse(line) as { port: number }).port);
        }
      }
    });
    proc.stderr?.on('data', (d: Buffer) => logs.push(d.toString()));
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`node exited with ${code}:\n${logs.join('\n')}`));
    });
  });
  return {
    proc,
    port,
    logs,
    async kill(signal = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill(signal);
      await exited;
    },
  };
}

export function cleanupNodeDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}
