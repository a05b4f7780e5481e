// Client events between pairs: P pairs of connections, each pair on its own private channel
// (signed auth). A sends client-ping, B answers client-pong, A records the round trip and sends
// the next ping: P round trips in flight. Reports delivered client events/s (ping + pong),
// round-trip p50/p99 and server CPU per client event.
import { connectMany, isError, killAll } from '../lib/pusher.mjs';
import { sleep, summarize, Window } from '../lib/stats.mjs';

export const name = 'client-events';
const PING = Buffer.from('client-ping');
const PONG = Buffer.from('client-pong');

export function variants(cfg) {
  return [{ variant: 'pairs', pairs: cfg.quick ? 20 : 50 }];
}

export async function runAll(server, v, cfg) {
  const lat = [];
  let delivered = 0;
  let errors = 0;
  let firstError = null;
  let stopping = false;
  let resent = 0;
  const chOf = (i) => `private-pair-${i >> 1}`;
  const ping = (ws) => {
    ws.tSent = performance.now();
    ws.send(`{"event":"client-ping","channel":"${ws.channel}","data":{"n":1}}`);
  };
  const conn = await connectMany({
    port: server.port,
    n: v.pairs * 2,
    window: 64,
    channelOf: chOf,
    onMessage: (ws, p) => {
      if (p.indexOf(PING) >= 0) {
        delivered++;
        ws.send(`{"event":"client-pong","channel":"${ws.channel}","data":{"n":1}}`);
      } else if (p.indexOf(PONG) >= 0) {
        delivered++;
        const now = performance.now();
        lat.push(now - ws.tSent);
        if (!stopping) ping(ws);
      } else if (isError(p)) {
        errors++;
        if (!firstError) firstError = p.toString().slice(0, 300);
      }
    },
  });
  const pingers = conn.clients.filter((c) => c.index % 2 === 0);
  // A pair whose ping or pong was rejected would stall; re-ping after 1 s of silence.
  const watchdog = setInterval(() => {
    const now = performance.now();
    for (const a of pingers) {
      if (!stopping && now - a.tSent > 1000) {
        resent++;
        ping(a);
      }
    }
  }, 500);
  try {
    if (conn.failed) throw new Error(`client-events: connect failed: ${conn.firstFailure}`);
    for (const a of pingers) ping(a);
    await sleep(cfg.warmupMs);
    const runs = [];
    for (let r = 0; r < cfg.repeats; r++) {
      lat.length = 0;
      const d0 = delivered;
      const w = new Window(server.pid).start();
      await sleep(cfg.clientMs);
      w.stop();
      const d = delivered - d0;
      const s = summarize(lat);
      runs.push({
        events_per_sec: d / w.seconds,
        rtt_p50_ms: s.p50,
        rtt_p99_ms: s.p99,
        server_cpu_us_per_event: (w.serverCpuSec / Math.max(1, d)) * 1e6,
        server_cpu: w.serverCpu,
        gen_cpu: w.genCpu,
        other_cpu: w.otherCpu,
        errors,
        resent,
        firstError,
      });
    }
    return [{ mode: 'pairs', runs, extra: { pairs: v.pairs } }];
  } finally {
    stopping = true;
    clearInterval(watchdog);
    killAll(conn.clients);
  }
}
