// Many channels: 10k connections, each on its own channel; REST triggers to random channels
// over 32 keep-alive connections (closed loop). Each channel's request is signed once up front.
// Reports REST requests/s, latency, server CPU per request, and deliveries seen.
import { buildEventRequest, closedLoop } from '../lib/rest.mjs';
import { connectMany, killAll } from '../lib/pusher.mjs';
import { APP, HOST } from '../lib/servers.mjs';
import { wsStats } from '../lib/wsclient.mjs';
import { sleep, summarize, Window } from '../lib/stats.mjs';

export const name = 'channels';

export function variants(cfg) {
  return [{ variant: cfg.quick ? '2k' : '10k', n: cfg.quick ? 2000 : 10000, conns: 32 }];
}

export async function runAll(server, v, cfg) {
  const conn = await connectMany({ port: server.port, n: v.n, window: cfg.connectWindow, channelOf: (i) => `many-${i}` });
  try {
    if (conn.failed > 0) throw new Error(`channels: ${conn.failed} of ${v.n} connections failed: ${conn.firstFailure}`);
    for (const c of conn.clients) c.countOnly = true;
    const reqs = [];
    for (let i = 0; i < v.n; i++) {
      reqs.push(
        buildEventRequest({
          host: HOST,
          port: server.port,
          appId: APP.id,
          key: APP.key,
          secret: APP.secret,
          body: `{"name":"bench","channels":["many-${i}"],"data":"{\\"n\\":${i}}"}`,
        }),
      );
    }
    // xorshift: cheap, deterministic channel choice
    let x = 2463534242;
    const next = () => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return reqs[(x >>> 0) % reqs.length];
    };
    const runs = [];
    for (let r = 0; r < cfg.repeats; r++) {
      let w;
      // Subscribers do not read during the load (their deliveries wait in the kernel's
      // receive buffers, a few KB each), so the generator's core goes to REST; they are
      // read afterwards to check that every accepted event was delivered.
      for (const c of conn.clients) c.sock.pause();
      const f0 = wsStats.frames;
      const res = await closedLoop({
        host: HOST,
        port: server.port,
        conns: v.conns,
        warmupMs: cfg.warmupMs,
        durationMs: cfg.restMs,
        nextRequest: next,
        onWindowStart: () => (w = new Window(server.pid).start()),
        onWindowEnd: () => w.stop(),
      });
      for (const c of conn.clients) c.sock.resume();
      const dl = performance.now() + 3000;
      while (wsStats.frames - f0 < res.okAll && performance.now() < dl) await sleep(20);
      const s = summarize(res.lat);
      runs.push({
        req_per_sec: res.ok / res.seconds,
        latency_p50_ms: s.p50,
        latency_p99_ms: s.p99,
        server_cpu_us_per_req: (w.serverCpuSec / Math.max(1, res.ok)) * 1e6,
        server_cpu: w.serverCpu,
        lost_deliveries: res.okAll - (wsStats.frames - f0),
        gen_cpu: w.genCpu,
        other_cpu: w.otherCpu,
        errors: res.bad,
        reconnects: res.reconnects,
        firstError: res.badStatus,
      });
    }
    return [{ mode: 'rest-random-channel', runs }];
  } finally {
    killAll(conn.clients);
  }
}
