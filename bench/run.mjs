#!/usr/bin/env node
// Herald benchmark harness. `npm run bench` (repo root) or `node bench/run.mjs [options]`.
//
//   --quick             small populations and short windows (development)
//   --only a,b          scenarios: rest, channels, fanout, client-events, presence, idle
//   --targets a,b       herald, soketi, ceiling (default: all three)
//   --repeats N         measurement windows / repeats per scenario (default 3, quick 2)
//   --no-build          do not run `npm run build` at the repo root
//   --max-minutes M     hard stop for the whole run (default 14)
//   --profile           run Herald under `node --cpu-prof` and print its top functions per scenario
//   --quiet-wait S      before each scenario × target, wait up to S s for the machine to be idle
//                       (other load < 0.3 core); default 0. The whole run still stops at --max-minutes.
// Through npm, options need a second `--` (`npm run bench -- -- --only rest`), or use the
// environment: BENCH_QUICK=1, BENCH_ONLY=..., BENCH_TARGETS=..., BENCH_REPEATS=N, BENCH_PROFILE=1,
// BENCH_NO_BUILD=1, BENCH_MAX_MINUTES=M.
//
// Loopback only. The servers run on CPU 0 (taskset -c 0), this generator on CPU 1.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const REPO_DIR = path.resolve(BENCH_DIR, '..');

// ---- pin the generator to CPU 1 with the file-descriptor limit raised, by re-executing ----
if (!process.env.BENCH_PINNED) {
  const r = spawnSync(
    'bash',
    ['-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec taskset -c 1 "$0" "$@"', process.execPath, ...process.argv.slice(1)],
    { stdio: 'inherit', env: { ...process.env, BENCH_PINNED: '1' } },
  );
  process.exit(r.status ?? 1);
}

const argv = process.argv.slice(2);
const flag = (n) => argv.includes(n);
const opt = (n) => {
  const i = argv.indexOf(n);
  if (i >= 0) return argv[i + 1];
  const eq = argv.find((a) => a.startsWith(`${n}=`));
  return eq ? eq.slice(n.length + 1) : undefined;
};
// `npm run bench -- --quick` reaches us through two npm layers, which turn bare flags into
// npm_config_* variables; honour those for the boolean flags (values need `-- --` or BENCH_*).
const npmFlag = (name) => process.env[`npm_config_${name}`] === 'true';
const quick = flag('--quick') || process.env.BENCH_QUICK === '1' || npmFlag('quick');
const only = (opt('--only') ?? process.env.BENCH_ONLY ?? '').split(',').filter(Boolean);
const targetNames = (opt('--targets') ?? process.env.BENCH_TARGETS ?? 'herald,soketi,ceiling').split(',').filter(Boolean);
const maxMinutes = Number(opt('--max-minutes') ?? process.env.BENCH_MAX_MINUTES ?? 14);
const quietWait = Number(opt('--quiet-wait') ?? process.env.BENCH_QUIET_WAIT ?? 0);
const noBuild = flag('--no-build') || process.env.BENCH_NO_BUILD === '1' || process.env.npm_config_build === '';
const profile = flag('--profile') || process.env.BENCH_PROFILE === '1' || npmFlag('profile');
const PROFILE_DIR = path.join(BENCH_DIR, 'results', 'profiles');
if (profile) {
  fs.mkdirSync(PROFILE_DIR, { recursive: true });
  process.env.BENCH_HERALD_NODE_ARGS = `--cpu-prof --cpu-prof-dir=${PROFILE_DIR}`;
  process.env.BENCH_STOP_GRACE_MS = process.env.BENCH_STOP_GRACE_MS ?? '15000'; // let Herald exit and write the profile
}
for (const s of only) {
  if (!['rest', 'channels', 'fanout', 'client-events', 'presence', 'idle'].includes(s)) {
    console.error(`[bench] unknown scenario "${s}" in --only`);
    process.exit(2);
  }
}

const cfg = {
  quick,
  repeats: Number(opt('--repeats') ?? process.env.BENCH_REPEATS ?? (quick ? 2 : 3)),
  idleRepeats: Number(opt('--idle-repeats') ?? process.env.BENCH_IDLE_REPEATS ?? 1),
  connectWindow: 128,
  idleMs: quick ? 800 : 1500,
  fixedMs: quick ? 1500 : 3000,
  maxMs: quick ? 1000 : 2000,
  restMs: quick ? 1000 : 2000,
  warmupMs: quick ? 300 : 500,
  presenceMs: quick ? 1000 : 2000,
  clientMs: quick ? 1000 : 2000,
  maxOutstandingTriggers: Number(process.env.BENCH_MAX_OUTSTANDING ?? 32),
  throttleMs: Number(process.env.BENCH_THROTTLE_MS ?? 100),
  throttleManyMs: Number(process.env.BENCH_THROTTLE_MANY_MS ?? 250),
};

// ---- install what the bench needs ----
function run(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, stdio: ['ignore', 'inherit', 'inherit'] });
  return r.status === 0;
}
if (!fs.existsSync(path.join(BENCH_DIR, 'node_modules', 'uWebSockets.js', 'package.json'))) {
  console.error('[bench] installing bench dependencies (npm ci) ...');
  if (!run('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], BENCH_DIR)) throw new Error('npm ci in bench/ failed');
}

const servers = await import('./lib/servers.mjs');
const { selfCheckSigner } = await import('./lib/rest.mjs');
const { medianSpread, round, GEN_SATURATED, NOISY } = await import('./lib/stats.mjs');
const report = await import('./lib/report.mjs');
const { summarizeProfile, printSummary } = await import('./lib/profile.mjs');
const profiles = [];
const SCENARIOS = [
  await import('./scenarios/rest.mjs'),
  await import('./scenarios/channels.mjs'),
  await import('./scenarios/fanout.mjs'),
  await import('./scenarios/clientevents.mjs'),
  await import('./scenarios/presence.mjs'),
  await import('./scenarios/idle.mjs'),
];

// ---- cleanup on every exit path ----
process.on('exit', () => servers.killAllChildren());
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    console.error(`[bench] ${sig}: stopping servers`);
    servers.killAllChildren();
    process.exit(130);
  });
}
const results = [];
let resultsWritten = false;
const hardStop = setTimeout(() => {
  console.error(`[bench] hard time limit of ${maxMinutes} min reached; writing partial results`);
  finish(true);
  process.exit(2);
}, maxMinutes * 60000);
hardStop.unref();

selfCheckSigner();

const unavailable = {};
if (targetNames.includes('soketi')) {
  try {
    servers.ensureSoketi();
  } catch (e) {
    unavailable.soketi = String(e.message);
  }
}
if (targetNames.includes('herald')) {
  if (!noBuild) {
    if (!fs.existsSync(path.join(REPO_DIR, 'node_modules'))) {
      console.error('[bench] installing repo dependencies (npm ci) ...');
      run('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], REPO_DIR);
    }
    console.error('[bench] building Herald (npm run build) ...');
    if (!run('npm', ['run', '--silent', 'build'], REPO_DIR)) unavailable.herald = 'npm run build failed';
  }
  if (!fs.existsSync(path.join(REPO_DIR, 'dist', 'src', 'main.js'))) unavailable.herald ??= 'dist/src/main.js not found';
}
const targets = targetNames.filter((t) => {
  if (unavailable[t]) console.error(`[bench] skipping ${t}: ${unavailable[t]}`);
  return !unavailable[t] && servers.TARGETS[t];
});

const machine = {
  date: new Date().toISOString(),
  nproc: os.cpus().length,
  cpu: os.cpus()[0]?.model,
  kernel: os.release(),
  node: process.version,
  loadavg_start: os.loadavg().map((x) => round(x, 2)),
  command: `node bench/run.mjs ${argv.join(' ')}`.trim(),
  git: spawnSync('git', ['-C', REPO_DIR, 'log', '-1', '--format=%h %s'], { encoding: 'utf8' }).stdout.trim() || null,
  fd_limit: Number(spawnSync('bash', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim()),
  cfg,
};
console.error(`[bench] targets: ${targets.join(', ')}; ${quick ? 'quick' : 'default'} set; ${JSON.stringify(machine)}`);

// ---- aggregation ----
function aggregate(runs) {
  const keys = new Set();
  for (const r of runs) for (const [k, v] of Object.entries(r)) if (typeof v === 'number') keys.add(k);
  const metrics = {};
  for (const k of keys) {
    const ms = medianSpread(runs.map((r) => r[k]));
    metrics[k] = { median: round(ms.median, 4), min: round(ms.min, 4), max: round(ms.max, 4), n: ms.n };
  }
  const notes = {};
  for (const r of runs) for (const [k, v] of Object.entries(r)) if (typeof v === 'string' && v && !notes[k]) notes[k] = v;
  return { metrics, notes };
}

function emit(rec) {
  const genMax = rec.metrics.gen_cpu?.max ?? 0;
  rec.gen_saturated = genMax > GEN_SATURATED;
  // other processes (or hypervisor steal) took more than a quarter of a core during a window
  rec.noisy = (rec.metrics.other_cpu?.max ?? 0) > NOISY;
  results.push(rec);
  console.log(JSON.stringify(rec));
}

async function withServer(target, fn) {
  let server;
  try {
    server = await servers.TARGETS[target].start();
    return await fn(server);
  } catch (e) {
    if (server?.exited) {
      const { code, sig } = server.exited;
      throw new Error(`${target} exited during the scenario (code ${code}, signal ${sig}); see ${server.log}. (${e?.message ?? e})`);
    }
    throw e;
  } finally {
    if (server) await server.stop();
  }
}

/** Waits (bounded) until the rest of the machine uses less than 0.3 of a core. */
async function waitQuiet(maxSec) {
  const { machineBusySeconds, sleep } = await import('./lib/stats.mjs');
  const deadline = Date.now() + maxSec * 1000;
  for (;;) {
    const m0 = machineBusySeconds();
    const g0 = process.cpuUsage();
    await sleep(1000);
    const g = process.cpuUsage(g0);
    const other = machineBusySeconds() - m0 - (g.user + g.system) / 1e6;
    if (other < 0.3) return;
    if (Date.now() > deadline) {
      console.error(`[bench] machine still busy (${other.toFixed(2)} cores used by others); going on`);
      return;
    }
  }
}

function selected(s) {
  return only.length === 0 || only.includes(s.name);
}

for (const sc of SCENARIOS) {
  if (!selected(sc)) continue;
  for (const v of sc.variants(cfg)) {
    for (const target of targets) {
      const base = { scenario: sc.name, variant: v.variant, target };
      if (v.needsPresence && !servers.TARGETS[target].presence) {
        emit({ ...base, mode: 'n/a', metrics: {}, skipped: 'the ceiling implements no presence' });
        continue;
      }
      if (quietWait > 0) await waitQuiet(quietWait);
      const t0 = Date.now();
      try {
        if (sc.runOnce) {
          // fresh server per repeat; one record per population level
          const byLevel = new Map();
          for (let r = 0; r < cfg.idleRepeats; r++) {
            const recs = await withServer(target, (server) => sc.runOnce(server, v, cfg));
            for (const rec of recs) {
              if (!byLevel.has(rec.level)) byLevel.set(rec.level, []);
              for (const sample of rec.samples) byLevel.get(rec.level).push({ ...sample, firstFailure: rec.firstFailure ?? undefined });
            }
          }
          for (const [level, runs] of byLevel) emit({ ...base, mode: `level-${level}`, level, ...aggregate(runs), seconds: (Date.now() - t0) / 1000 });
        } else {
          const before = profile && target === 'herald' ? new Set(fs.readdirSync(PROFILE_DIR)) : null;
          const recs = await withServer(target, (server) => sc.runAll(server, v, cfg));
          if (before) {
            for (const f of fs.readdirSync(PROFILE_DIR).filter((x) => !before.has(x) && x.endsWith('.cpuprofile'))) {
              const s = summarizeProfile(path.join(PROFILE_DIR, f));
              s.scenario = `${sc.name}/${v.variant}`;
              profiles.push(s);
              console.error(`\n[bench] Herald profile for ${s.scenario}:\n${printSummary(s)}\n`);
            }
          }
          for (const rec of recs) emit({ ...base, mode: rec.mode, ...aggregate(rec.runs), extra: rec.extra, seconds: (Date.now() - t0) / 1000 });
        }
      } catch (e) {
        emit({ ...base, mode: 'error', metrics: {}, error: String(e?.stack ?? e) });
      }
    }
  }
}

finish(false);
clearTimeout(hardStop);
process.exit(0);

function finish(partial) {
  if (resultsWritten) return;
  resultsWritten = true;
  machine.loadavg_end = os.loadavg().map((x) => round(x, 2));
  const table = report.buildTable(results);
  const out = { machine, partial, unavailable, results, table: table.rows, profiles };
  const dir = path.join(BENCH_DIR, 'results');
  fs.mkdirSync(dir, { recursive: true });
  const stamp = machine.date.replace(/[:.]/g, '-');
  const file = path.join(dir, `bench-${stamp}${quick ? '-quick' : ''}.json`);
  fs.writeFileSync(file, JSON.stringify(out, null, 2));
  fs.writeFileSync(path.join(dir, 'latest.json'), JSON.stringify(out, null, 2));
  console.log('');
  console.log(table.markdown);
  console.log('');
  console.log(`results: ${path.relative(process.cwd(), file)}`);
}
