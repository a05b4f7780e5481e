// Presence churn: one observer and C churners on one presence channel. Each churner loops:
// subscribe with a fresh user_id (signed channel_data) → subscription_succeeded →
// unsubscribe → subscribe again with the next user_id. Every join makes the server send
// member_added to the current members and every leave member_removed. Reports joins/s,
// member_added latency at the observer (subscribe sent → member_added received) and server
// CPU per join (the join's leave included). The ceiling has no presence: skipped there.
import { connectMany, isError, isSubOk, killAll, subscribeFrame } from '../lib/pusher.mjs';
import { sleep, summarize, Window } from '../lib/stats.mjs';

export const name = 'presence';
const CH = 'presence-churn';
const ADDED = Buffer.from('member_added');
const REMOVED = Buffer.from('member_removed');

export function variants(cfg) {
  return [{ variant: 'churn', churners: cfg.quick ? 10 : 20, needsPresence: true }];
}

export async function runAll(server, v, cfg) {
  const sentAt = new Map();
  const lat = [];
  let joins = 0;
  let leavesSeen = 0;
  let errors = 0;
  let firstError = null;
  let running = false;
  let stopping = false;
  const cd = (uid) => JSON.stringify({ user_id: uid, user_info: { name: uid } });

  const observer = await connectMany({
    port: server.port,
    n: 1,
    window: 1,
    channelOf: () => CH,
    dataOf: () => cd('observer'),
    addrOffset: 0,
    onMessage: (ws, p) => {
      if (p.indexOf(ADDED) >= 0) {
        const now = performance.now();
        const m = JSON.parse(p.toString());
        const uid = String((typeof m.data === 'string' ? JSON.parse(m.data) : m.data).user_id);
        const t = sentAt.get(uid);
        if (t !== undefined) {
          sentAt.delete(uid);
          if (running) lat.push(now - t);
        }
      } else if (p.indexOf(REMOVED) >= 0) {
        leavesSeen++;
      }
    },
  });
  const gen = new Array(v.churners).fill(0);
  const uidOf = (i) => `c${i}-${gen[i]}`;
  const rejoin = (ws) => {
    const i = ws.index;
    ws.send(`{"event":"pusher:unsubscribe","data":{"channel":"${CH}"}}`);
    gen[i]++;
    const uid = uidOf(i);
    sentAt.set(uid, performance.now());
    ws.send(subscribeFrame(CH, ws.socketId, cd(uid)));
  };
  const churn = await connectMany({
    port: server.port,
    n: v.churners,
    window: v.churners,
    channelOf: () => CH,
    dataOf: (i) => cd(uidOf(i)),
    addrOffset: 1,
    onMessage: (ws, p) => {
      if (isSubOk(p)) {
        joins++;
        if (!stopping) rejoin(ws);
      } else if (isError(p)) {
        errors++;
        if (!firstError) firstError = p.toString().slice(0, 300);
      }
    },
  });
  try {
    if (observer.failed || churn.failed) throw new Error(`presence: connect failed: ${observer.firstFailure ?? churn.firstFailure}`);
    for (const ws of churn.clients) rejoin(ws);
    await sleep(cfg.warmupMs);
    const runs = [];
    for (let r = 0; r < cfg.repeats; r++) {
      lat.length = 0;
      running = true;
      const j0 = joins;
      const l0 = leavesSeen;
      const w = new Window(server.pid).start();
      await sleep(cfg.presenceMs);
      w.stop();
      running = false;
      const j = joins - j0;
      const s = summarize(lat);
      runs.push({
        joins_per_sec: j / w.seconds,
        leaves_seen_per_sec: (leavesSeen - l0) / w.seconds,
        member_added_p50_ms: s.p50,
        member_added_p99_ms: s.p99,
        server_cpu_us_per_join: (w.serverCpuSec / Math.max(1, j)) * 1e6,
        server_cpu: w.serverCpu,
        gen_cpu: w.genCpu,
        other_cpu: w.otherCpu,
        errors,
        firstError,
      });
    }
    return [{ mode: 'churn', runs, extra: { churners: v.churners } }];
  } finally {
    stopping = true;
    killAll(observer.clients);
    killAll(churn.clients);
  }
}
