// Idle connections: connect+subscribe up to 1k, 10k, 19k connections, all on one channel
// ("one") or each on its own channel ("each"). The population grows in phases (0→1k→10k→19k),
// so each level's rate, p99 and CPU per connect+subscribe are the marginal cost at that
// population. At each level: server RSS per connection ((RSS − RSS before any client) ÷ level)
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
      const add = level - have;
      const w = new Window(server.pid).start();
      const r = await connectMany({
        port: server.port,
        n: add,
        window: cfg.connectWindow,
        addrOffset: have,
        channelOf: v.variant === 'one' ? () => 'idle' : (i) => `idle-${have + i}`,
      });
      w.stop();
      all.push(...r.clients);
      have = level;
      await sleep(cfg.quick ? 200 : 500);
      const idle = new Window(server.pid).start();
      await sleep(cfg.idleMs);
      idle.stop();
      const rss = procRssBytes(server.pid);
      const ok = add - r.failed;
      const s = summarize(r.lat);
      out.push({
        level,
        metrics: {
          connect_per_sec: ok / w.seconds,
          connect_p50_ms: s.p50,
          connect_p99_ms: s.p99,
          server_cpu_us_per_connect: (w.serverCpuSec / Math.max(1, ok)) * 1e6,
          server_cpu_connect_phase: w.serverCpu,
          rss_kb_per_conn: (rss - rss0) / level / 1024,
          rss_mb: rss / 1048576,
          idle_cpu_pct: idle.serverCpu * 100,
          failed: r.failed,
          gen_cpu: w.genCpu,
          other_cpu: w.otherCpu,
        },
        firstFailure: r.firstFailure,
      });
      if (r.failed > 0) break;
    }
  } finally {
    killAll(all);
  }
  return out;
}
