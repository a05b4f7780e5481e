// REST throughput with no subscribers: closed loop over 64 keep-alive connections, each
// request a fully signed POST /apps/{id}/events (pre-signed once per scenario; the server
// verifies the MD5 and HMAC of every copy). Reports requests/s, latency and server CPU per request.
import { buildEventRequest, closedLoop } from '../lib/rest.mjs';
import { APP, HOST } from '../lib/servers.mjs';
import { summarize, Window } from '../lib/stats.mjs';

export const name = 'rest';

export function variants() {
  return [{ variant: 'no-subs', conns: 64 }];
}

export async function runAll(server, v, cfg) {
  const req = buildEventRequest({
    host: HOST,
    port: server.port,
    appId: APP.id,
    key: APP.key,
    secret: APP.secret,
    body: '{"name":"bench","channels":["nobody-listens"],"data":"{\\"hello\\":\\"world\\"}"}',
  });
  const runs = [];
  for (let r = 0; r < cfg.repeats; r++) {
    let w;
    const res = await closedLoop({
      host: HOST,
      port: server.port,
      conns: v.conns,
      warmupMs: cfg.warmupMs,
      durationMs: cfg.restMs,
      nextRequest: () => req,
      onWindowStart: () => (w = new Window(server.pid).start()),
      onWindowEnd: () => w.stop(),
    });
    const s = summarize(res.lat);
    runs.push({
      req_per_sec: res.ok / res.seconds,
      latency_p50_ms: s.p50,
      latency_p99_ms: s.p99,
      server_cpu_us_per_req: (w.serverCpuSec / Math.max(1, res.ok)) * 1e6,
      server_cpu: w.serverCpu,
      gen_cpu: w.genCpu,
      other_cpu: w.otherCpu,
      errors: res.bad,
      firstError: res.badStatus,
    });
  }
  return [{ mode: 'rest', runs }];
}
