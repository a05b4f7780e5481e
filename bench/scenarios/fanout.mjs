// Fan-out: N subscribers on one channel.
//  fixed: REST triggers at a fixed offered rate; each event carries its send time; latency =
//         REST send → frame parsed by the subscriber; loss = expected − received deliveries.
//  max:   closed-loop REST triggers (pre-signed, static body) as fast as the server answers;
//         delivered messages per second counted at the subscribers (reads batched every
//         20 ms so the generator reads big chunks; this does not change the server's work).
import { buildEventRequest, closedLoop, HttpConn } from '../lib/rest.mjs';
import { connectMany, killAll } from '../lib/pusher.mjs';
import { APP, HOST } from '../lib/servers.mjs';
import { setReadThrottle, wsStats } from '../lib/wsclient.mjs';
import { sleep, summarize, Window } from '../lib/stats.mjs';

export const name = 'fanout';

export function variants(cfg) {
  const q = cfg.quick;
  return [
    { variant: '1k', subs: q ? 300 : 1000, rate: 50 },
    { variant: '10k', subs: q ? 2000 : 10000, rate: 5 },
  ];
}

const MARK = Buffer.from('B|');

function bodyFor(seq, t) {
  return `{"name":"bench","channels":["fan"],"data":"B|${seq}|${t.toFixed(3)}|"}`;
}

/** Connect once, then run `repeats` fixed-rate windows and `repeats` max-rate windows. */
export async function runAll(server, v, cfg) {
  const lat = [];
  let received = 0;
  const onMessage = (ws, p) => {
    const i = p.indexOf(MARK);
    if (i < 0) return;
    const now = performance.now();
    const s = p.toString('latin1', i + 2, i + 40);
    const a = s.indexOf('|');
    const b = s.indexOf('|', a + 1);
    lat.push(now - Number(s.slice(a + 1, b)));
    received++;
  };
  const conn = await connectMany({ port: server.port, n: v.subs, window: cfg.connectWindow, channelOf: () => 'fan', onMessage });
  const records = [];
  try {
    if (conn.failed > 0) throw new Error(`fanout: ${conn.failed} of ${v.subs} subscribers failed: ${conn.firstFailure}`);
    const subs = conn.clients;
    // ---- fixed rate ----
    const fixed = [];
    const senders = [0, 1, 2, 3].map(() => new HttpConn(HOST, server.port));
    let seq = 0;
    for (let r = 0; r < cfg.repeats; r++) {
      lat.length = 0;
      received = 0;
      let sent = 0;
      let restErrors = 0;
      let firstRestError = null;
      const n = Math.max(1, Math.round((v.rate * cfg.fixedMs) / 1000));
      const w = new Window(server.pid).start();
      const periodMs = 1000 / v.rate;
      const t0 = performance.now();
      for (let k = 0; k < n; k++) {
        const due = t0 + k * periodMs;
        const wait = due - performance.now();
        if (wait > 1) await sleep(wait);
        const c = senders.find((s) => !s.cb);
        if (!c) {
          restErrors++;
          continue;
        }
        const t = performance.now();
        c.request(buildEventRequest({ host: HOST, port: server.port, appId: APP.id, key: APP.key, secret: APP.secret, body: bodyFor(seq++, t) }), (st, body, err) => {
          if (st !== 200) {
            restErrors++;
            if (!firstRestError) firstRestError = err ? err.message : `${st} ${body?.toString().slice(0, 200)}`;
          }
        });
        sent++;
      }
      // drain: wait until everything arrived or 3 s passed
      const expected = sent * subs.length;
      const dl = performance.now() + 3000;
      while (received < expected && performance.now() < dl) await sleep(20);
      w.stop();
      const s = summarize(lat);
      fixed.push({
        offered_per_sec: v.rate,
        latency_p50_ms: s.p50,
        latency_p99_ms: s.p99,
        latency_max_ms: s.max,
        loss: expected - received,
        rest_errors: restErrors,
        server_cpu_us_per_msg: (w.serverCpuSec / Math.max(1, received)) * 1e6,
        gen_cpu: w.genCpu,
        firstRestError,
      });
    }
    for (const c of senders) c.close();
    records.push({ mode: 'fixed', runs: fixed });

    // ---- max rate ----
    for (const c of subs) c.countOnly = true;
    setReadThrottle(20);
    const req = buildEventRequest({
      host: HOST,
      port: server.port,
      appId: APP.id,
      key: APP.key,
      secret: APP.secret,
      body: '{"name":"bench","channels":["fan"],"data":"B|0|0.000|max-rate-payload"}',
    });
    const max = [];
    const windows = [];
    const framesStart = wsStats.frames;
    // One continuous closed-loop load; consecutive windows are sampled while it runs.
    const loop = closedLoop({
      host: HOST,
      port: server.port,
      conns: cfg.maxRateConns,
      warmupMs: 1000,
      durationMs: cfg.maxMs * cfg.repeats,
      nextRequest: () => req,
    });
    await sleep(1000);
    for (let r = 0; r < cfg.repeats; r++) {
      const f0 = wsStats.frames;
      const w = new Window(server.pid).start();
      await sleep(cfg.maxMs);
      w.stop();
      windows.push({ got: wsStats.frames - f0, w });
    }
    const res = await loop;
    // drain, then compare deliveries against accepted triggers × subscribers
    setReadThrottle(0);
    const expected = res.okAll * subs.length;
    const dl = performance.now() + 3000;
    while (wsStats.frames - framesStart < expected && performance.now() < dl) await sleep(20);
    const lost = expected - (wsStats.frames - framesStart);
    for (const { got, w } of windows) {
      max.push({
        delivered_per_sec: got / w.seconds,
        triggers_per_sec: got / subs.length / w.seconds,
        server_cpu_us_per_msg: (w.serverCpuSec / Math.max(1, got)) * 1e6,
        server_cpu: w.serverCpu,
        gen_cpu: w.genCpu,
      });
    }
    records.push({
      mode: 'max',
      runs: max,
      extra: { triggers_accepted: res.okAll, loss: lost, rest_bad: res.bad, rest_first_error: res.badStatus, rest_p99_ms: summarize(res.lat).p99 },
    });
  } finally {
    setReadThrottle(0);
    killAll(conn.clients);
  }
  return records;
}
