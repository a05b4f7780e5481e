// Idle connections: connect+subscribe up to 1k, 10k, 19k connections, all on one channel
// ("one") or each on its own channel ("each"). The population grows in phases (0→1k→10k→19k),
// so each level's rate, p99 and CPU per connect+subscribe are the marginal cost at that
// population; each phase runs in three chunks, which are the repeated samples. At each level: server RSS per connection ((RSS − RSS before any client) ÷ level)
// and idle server CPU over a quiet window.
import { connectMany, killAll } from '../lib/pusher.mjs';
import { procRssBytes, sleep, summarize, Window } from '../lib/stats.mjs';

export const name = 'idle';

export function variants(cfg) {
  return ['one', 'each'].map((mode) => ({ variant: mode, levels: cfg.quick ? [200, 1000] : [1000, 10000, 19000] }));
}

/** One repeat: a fresh server, grown through the levels. Returns one record per level. */
export async function runOnce(server, v, cfg) {
  // Warm the server's code paths (JIT) with a throw-away batch, so the first level is not
  // charged for compilation; the RSS baseline is taken after it.
  const warm = await connectMany({
    port: server.port,
    n: cfg.quick ? 200 : 1000,
    window: cfg.connectWindow,
    addrOffset: 19000,
    channelOf: v.variant === 'one' ? () => 'warm' : (i) => `warm-${i}`,
  });
  killAll(warm.clients);
  await sleep(cfg.quick ? 300 : 600);
  const rss0 = procRssBytes(server.pid);
  const all = [];
  const out = [];
  let have = 0;
  try {
    for (const level of v.levels) {
      // The phase to this level runs in three equal chunks; each chunk is one sample of the
      // connect metrics (their spread shows how the cost moves as the population grows).
      const add = level - have;
      const chunks = [];
      let failed = 0;
      let firstFailure = null;
      for (let k = 0; k < 3 && failed === 0; k++) {
        const n = Math.round((add * (k + 1)) / 3) - Math.round((add * k) / 3);
        const base = have;
        const w = new Window(server.pid).start();
        const r = await connectMany({
          port: server.port,
          n,
          window: cfg.connectWindow,
          addrOffset: base,
          channelOf: v.variant === 'one' ? () => 'idle' : (i) => `idle-${base + i}`,
        });
        w.stop();
        all.push(...r.clients);
        have += n;
        failed += r.failed;
        firstFailure = firstFailure ?? r.firstFailure;
        const ok = n - r.failed;
        const s = summarize(r.lat);
        chunks.push({
          connect_per_sec: ok / w.seconds,
          connect_p50_ms: s.p50,
          connect_p99_ms: s.p99,
          server_cpu_us_per_connect: (w.serverCpuSec / Math.max(1, ok)) * 1e6,
          server_cpu_connect_phase: w.serverCpu,
          gen_cpu: w.genCpu,
          other_cpu: w.otherCpu,
        });
      }
      await sleep(cfg.quick ? 200 : 500);
      const idle = new Window(server.pid).start();
      await sleep(cfg.idleMs);
      idle.stop();
      const rss = procRssBytes(server.pid);
      const levelMetrics = {
        rss_kb_per_conn: (rss - rss0) / level / 1024,
        rss_mb: rss / 1048576,
        idle_cpu_pct: idle.serverCpu * 100,
        failed,
      };
      out.push({ level, samples: chunks.map((c) => ({ ...c, ...levelMetrics })), firstFailure });
      if (failed > 0) break;
    }
  } finally {
    killAll(all);
  }
  return out;
}
