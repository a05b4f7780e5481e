// Starting and stopping the three servers under test, pinned to CPU 0.
// Every child is registered so that it is killed on exit, error or signal.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep } from './stats.mjs';

export const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_DIR = path.resolve(BENCH_DIR, '..');
export const SOKETI_DIR = path.join(BENCH_DIR, '.soketi');
export const SOKETI_VERSION = '1.6.1';
export const UWS_ALIAS = 'npm:@trufflesuite/uws-js-unofficial@20.30.0-unofficial.0';

export const APP = Object.freeze({ id: 'bench', key: 'bench-key', secret: 'bench-secret-xxx' });
export const HOST = '127.0.0.1';
export const SERVER_CPU = '0';

const children = new Set();

export function killAllChildren() {
  for (const c of children) {
    try {
      process.kill(c.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  children.clear();
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, HOST, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function tcpUp(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: HOST, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function httpReady(port) {
  try {
    const r = await fetch(`http://${HOST}:${port}/ready`, { signal: AbortSignal.timeout(1000) });
    return r.status;
  } catch {
    return 0;
  }
}

function logFile(name) {
  const dir = path.join(BENCH_DIR, 'results', 'logs');
  fs.mkdirSync(dir, { recursive: true });
  return path.join(dir, `${name}.log`);
}

class ServerProc {
  constructor(name, child, port, log) {
    this.name = name;
    this.child = child;
    this.pid = child.pid;
    this.port = port;
    this.log = log;
    this.exited = null;
    child.on('exit', (code, sig) => {
      this.exited = { code, sig };
      children.delete(child);
    });
  }

  async waitReady(timeoutMs, useReadyRoute) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.exited) throw new Error(`${this.name} exited during startup (${JSON.stringify(this.exited)}); see ${this.log}`);
      if (await tcpUp(this.port)) {
        if (!useReadyRoute) return;
        const st = await httpReady(this.port);
        if (st === 200 || st === 404) return; // 404: no /ready route; the port answers, good enough
      }
      await sleep(50);
    }
    throw new Error(`${this.name} not ready on port ${this.port} after ${timeoutMs} ms; see ${this.log}`);
  }

  async stop() {
    if (this.exited) return;
    const done = new Promise((r) => this.child.once('exit', r));
    try {
      process.kill(this.pid, 'SIGTERM');
    } catch {
      return;
    }
    const t = setTimeout(() => {
      try {
        process.kill(this.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }, Number(process.env.BENCH_STOP_GRACE_MS ?? 1500));
    await done;
    clearTimeout(t);
  }
}

function launch(name, args, opts) {
  const log = logFile(name);
  const out = fs.openSync(log, 'a');
  fs.writeSync(out, `\n=== ${new Date().toISOString()} taskset -c ${SERVER_CPU} ${args.join(' ')}\n`);
  const child = spawn('taskset', ['-c', SERVER_CPU, ...args], { stdio: ['ignore', out, out], ...opts });
  fs.closeSync(out);
  children.add(child);
  return { child, log };
}

// ---- Herald ----

export function heraldConfig(port, extraLimits, stateDir) {
  const app = { ...APP, enableClientEvents: true };
  if (extraLimits) app.limits = extraLimits;
  // The bench's clients come from a few loopback addresses; lift Herald's per-address limits.
  const perAddress = 1_000_000;
  const cfg = {
    host: HOST, port, metricsPort: 0, apps: [app],
    maxConnectionsPerIp: perAddress, ipConnectionsPerSec: perAddress, ipConnectionBurst: perAddress,
    ipPublicSubscribesPerSec: perAddress, ipPublicSubscribeBurst: perAddress,
  };
  if (stateDir) cfg.stateDir = stateDir;
  cfg.logLevel = process.env.BENCH_HERALD_LOG_LEVEL ?? 'warn';
  return cfg;
}

/** The JSON Schema of Herald's config file, from the built CLI (`herald config schema`). */
function heraldConfigSchema() {
  const main = path.join(REPO_DIR, 'dist', 'src', 'main.js');
  const r = spawnSync(process.execPath, [main, 'config', 'schema'], { cwd: REPO_DIR, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`\`herald config schema\` failed (${r.status ?? r.signal}): ${r.stderr.trim()}`);
  return JSON.parse(r.stdout);
}

/** High per-app limits for the bench, restricted to the limits Herald's config schema knows
 *  (it rejects unknown keys), so the bench keeps working while the schema evolves. */
export function heraldLimits(schema = heraldConfigSchema()) {
  const known = schema.properties?.apps?.items?.properties?.limits?.properties ?? {};
  const want = {
    maxConnections: 100000,
    maxMessagesPerDay: 1e12,
    maxClientEventsPerSec: 1000000,
    maxRestRequestsPerSec: 10000000,
    maxPresenceMembers: 100000,
  };
  const limits = {};
  for (const [k, v] of Object.entries(want)) if (Object.hasOwn(known, k)) limits[k] = v;
  return Object.keys(limits).length ? limits : undefined;
}

/** Settings the schema may not know yet are added only when it does. */
function knownTopLevel(cfg, schema) {
  const known = schema.properties ?? {};
  const out = {};
  for (const [k, v] of Object.entries(cfg)) if (k === 'apps' || Object.hasOwn(known, k)) out[k] = v;
  return out;
}

export async function startHerald() {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-bench-'));
  const file = path.join(dir, 'config.json');
  const schema = heraldConfigSchema();
  let cfg = knownTopLevel(heraldConfig(port, heraldLimits(schema), path.join(dir, 'state')), schema);
  if (process.env.BENCH_HERALD_CONFIG_EXTRA) cfg = { ...cfg, ...JSON.parse(process.env.BENCH_HERALD_CONFIG_EXTRA) };
  fs.writeFileSync(file, JSON.stringify(cfg, null, 2));
  const nodeArgs = process.env.BENCH_HERALD_NODE_ARGS ? process.env.BENCH_HERALD_NODE_ARGS.split(' ').filter(Boolean) : [];
  const { child, log } = launch('herald', [process.execPath, ...nodeArgs, path.join(REPO_DIR, 'dist', 'src', 'main.js'), 'start', '--config', file], {
    cwd: REPO_DIR,
    env: { ...process.env, NODE_ENV: 'production' },
  });
  const s = new ServerProc('herald', child, port, log);
  s.configFile = file;
  await s.waitReady(20000, true);
  return s;
}

// ---- soketi ----

export async function startSoketi() {
  const port = await freePort();
  const clusterPort = await freePort();
  const env = {
    ...process.env,
    SOKETI_HOST: HOST,
    SOKETI_PORT: String(port),
    SOKETI_DEBUG: 'false',
    SOKETI_MODE: 'full',
    SOKETI_DEFAULT_APP_ID: APP.id,
    SOKETI_DEFAULT_APP_KEY: APP.key,
    SOKETI_DEFAULT_APP_SECRET: APP.secret,
    SOKETI_DEFAULT_APP_ENABLED: 'true',
    SOKETI_DEFAULT_APP_ENABLE_CLIENT_MESSAGES: 'true',
    SOKETI_DEFAULT_APP_MAX_CONNS: '-1',
    SOKETI_DEFAULT_APP_MAX_BACKEND_EVENTS_PER_SEC: '-1',
    SOKETI_DEFAULT_APP_MAX_CLIENT_EVENTS_PER_SEC: '-1',
    SOKETI_DEFAULT_APP_MAX_READ_REQ_PER_SEC: '-1',
    SOKETI_PRESENCE_MAX_MEMBERS: '100000',
    SOKETI_METRICS_ENABLED: 'false',
    // soketi always starts node-discover (UDP); keep it on loopback: unicast to ourselves only.
    SOKETI_CLUSTER_HOST: HOST,
    SOKETI_CLUSTER_PORT: String(clusterPort),
    SOKETI_CLUSTER_UNICAST_ADDRESSES: `${HOST}:${clusterPort}`,
    SOKETI_CLUSTER_BROADCAST_ADDRESS: '127.255.255.255',
    SOKETI_SHUTDOWN_GRACE_PERIOD: '0',
  };
  const bin = path.join(SOKETI_DIR, 'node_modules', '@soketi', 'soketi', 'bin', 'server.js');
  const { child, log } = launch('soketi', [process.execPath, bin, 'start'], { cwd: SOKETI_DIR, env });
  const s = new ServerProc('soketi', child, port, log);
  await s.waitReady(30000, false);
  return s;
}

export function ensureSoketi() {
  const marker = path.join(SOKETI_DIR, 'node_modules', '@soketi', 'soketi', 'package.json');
  if (fs.existsSync(marker)) {
    const v = JSON.parse(fs.readFileSync(marker, 'utf8')).version;
    if (v === SOKETI_VERSION) return;
  }
  fs.mkdirSync(SOKETI_DIR, { recursive: true });
  fs.writeFileSync(
    path.join(SOKETI_DIR, 'package.json'),
    JSON.stringify(
      {
        name: 'herald-bench-soketi',
        private: true,
        description: 'soketi installed by bench/run.mjs; its uWebSockets.js git dependency is replaced by a registry build',
        dependencies: { '@soketi/soketi': SOKETI_VERSION },
        overrides: { 'uWebSockets.js': UWS_ALIAS },
      },
      null,
      2,
    ),
  );
  console.error(`[bench] installing soketi ${SOKETI_VERSION} into ${SOKETI_DIR} ...`);
  const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: SOKETI_DIR, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('soketi install failed');
}

// ---- ceiling ----

export async function startCeiling() {
  const port = await freePort();
  const { child, log } = launch('ceiling', [process.execPath, path.join(BENCH_DIR, 'ceiling.mjs'), String(port), HOST], { cwd: BENCH_DIR });
  const s = new ServerProc('ceiling', child, port, log);
  await s.waitReady(10000, false);
  return s;
}

export const TARGETS = {
  herald: { start: startHerald, presence: true },
  soketi: { start: startSoketi, presence: true },
  ceiling: { start: startCeiling, presence: false },
};
