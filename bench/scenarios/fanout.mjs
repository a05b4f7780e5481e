// Fan-out: N subscribers on one channel.
//  fixed: REST triggers at a fixed offered rate; each event carries its send time; latency =
//         REST send → frame parsed by the subscriber; loss = expected − received deliveries.
//  max:   REST triggers (pre-signed, static body) paced by delivery: K = 32 outstanding
//         triggers, a trigger completing when the probe
//         subscriber receives it; delivered messages per second counted at the subscribers
//         (other subscribers' reads batched every 100/250 ms so the generator reads big chunks;
//         this does not change the server's work).
import { buildEventRequest, HttpConn } from '../lib/rest.mjs';
import { connectMany, killAll } from '../lib/pusher.mjs';
import { APP, HOST } from '../lib/servers.mjs';
import { flushReads, setReadThrottle, wsStats } from '../lib/wsclient.mjs';
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
        other_cpu: w.otherCpu,
        firstRestError,
      });
    }
    for (const c of senders) c.close();
    records.push({ mode: 'fixed', runs: fixed });

    // ---- max rate ----
    // Delivery-paced: at most K triggers are outstanding, where a trigger counts as done when
    // the probe (the last subscriber to join, read without throttling) receives it. This keeps
    // every server busy without letting a server that answers REST before fanning out (soketi)
    // queue work without bound.
    const probe = subs[subs.length - 1];
    const others = subs.slice(0, -1);
    for (const c of others) c.countOnly = true;
    probe.noThrottle = true;
    const K = cfg.maxOutstandingTriggers;
    const req = buildEventRequest({
      host: HOST,
      port: server.port,
      appId: APP.id,
      key: APP.key,
      secret: APP.secret,
      body: '{"name":"bench","channels":["fan"],"data":"B|0|0.000|max-rate-payload"}',
    });
    const pool = [];
    let outstanding = 0;
    let sentTotal = 0;
    let okTotal = 0;
    let restBad = 0;
    let restFirstError = null;
    let stalls = 0;
    let running = true;
    let lastProgress = performance.now();
    const pump = () => {
      while (running && outstanding < K) {
        let c = pool.find((x) => !x.cb && !x.dead);
        if (!c) {
          if (pool.length >= K + 4) return;
          c = new HttpConn(HOST, server.port, `127.0.0.${200 + (pool.length % 4)}`);
          pool.push(c);
        }
        outstanding++;
        sentTotal++;
        c.request(req, (st, body, err) => {
          if (st === 200) okTotal++;
          else {
            restBad++;
            if (!restFirstError) restFirstError = err ? err.message : `${st} ${body?.toString().slice(0, 200)}`;
            outstanding--; // no delivery will come for it
          }
          pump();
        });
      }
    };
    probe.onMessage = () => {
      lastProgress = performance.now();
      if (outstanding > 0) outstanding--;
      pump();
    };
    const stallTimer = setInterval(() => {
      if (running && performance.now() - lastProgress > 2000) {
        stalls++;
        outstanding = 0;
        lastProgress = performance.now();
        pump();
      }
    }, 500);
    setReadThrottle(v.subs > 2000 ? cfg.throttleManyMs : cfg.throttleMs);
    const max = [];
    const framesStart = wsStats.frames;
    pump();
    await sleep(1000);
    for (let r = 0; r < cfg.repeats; r++) {
      await flushReads();
      const f0 = wsStats.frames;
      const o0 = okTotal;
      const w = new Window(server.pid).start();
      await sleep(cfg.maxMs);
      await flushReads();
      w.stop();
      const got = wsStats.frames - f0;
      max.push({
        delivered_per_sec: got / w.seconds,
        triggers_per_sec: (okTotal - o0) / w.seconds,
        server_cpu_us_per_msg: (w.serverCpuSec / Math.max(1, got)) * 1e6,
        server_cpu: w.serverCpu,
        gen_cpu: w.genCpu,
        other_cpu: w.otherCpu,
      });
    }
    running = false;
    clearInterval(stallTimer);
    // wait for in-flight REST answers, drain, then compare deliveries against accepted triggers × subscribers
    setReadThrottle(0);
    const dl = performance.now() + 3000;
    while (pool.some((c) => c.cb) && performance.now() < dl) await sleep(10);
    const expected = okTotal * subs.length;
    while (wsStats.frames - framesStart < expected && performance.now() < dl) await sleep(20);
    for (const c of pool) c.close();
    records.push({
      mode: 'max',
      runs: max,
      extra: {
        outstanding_triggers: K,
        triggers_accepted: okTotal,
        loss: expected - (wsStats.frames - framesStart),
        rest_bad: restBad,
        rest_first_error: restFirstError,
        stalls,
      },
    });
  } finally {
    setReadThrottle(0);
    killAll(conn.clients);
  }
  return records;
}
