// Scraping Herald's Prometheus endpoint and turning the text into the few numbers a soak
// sample holds. Also the load generator's own event-loop delay, to tell a slow server from a
// saturated generator.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { HOST, APP } from './server.mjs';

const SCRAPE_TIMEOUT_MS = 5000;

/**
 * Parses Prometheus text exposition into [{ name, labels: {k: v}, value }]. Comment lines and
 * lines that do not parse are skipped (label values with escaped quotes are not needed here).
 */
export function parsePrometheus(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([A-Za-z_][A-Za-z0-9_]*)="([^"]*)"/g)) labels[k] = v;
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** Sum of a metric's values over the series whose labels include `match`; undefined when there is none. */
function sum(series, name, match = {}) {
  let total;
  for (const s of series) {
    if (s.name !== name) continue;
    if (!Object.entries(match).every(([k, v]) => s.labels[k] === v)) continue;
    total = (total ?? 0) + s.value;
  }
  return total;
}

/**
 * One scrape of http://127.0.0.1:<metricsPort>/metrics. Resolves the numbers the soak follows
 * (bytes, counts and seconds as Herald exposes them), or { error } when the scrape failed.
 */
export async function scrape(metricsPort) {
  try {
    const res = await fetch(`http://${HOST}:${metricsPort}/metrics`, { signal: AbortSignal.timeout(SCRAPE_TIMEOUT_MS) });
    if (!res.ok) return { error: `HTTP ${res.status}` };
    const series = parsePrometheus(await res.text());
    return {
      rssBytes: sum(series, 'process_resident_memory_bytes'),
      heapUsedBytes: sum(series, 'nodejs_heap_size_used_bytes'),
      openFds: sum(series, 'process_open_fds'),
      loopLagP99Sec: sum(series, 'nodejs_eventloop_lag_p99_seconds'),
      cpuSec: sum(series, 'process_cpu_seconds_total'),
      connections: sum(series, 'herald_connections', { app: APP.id }) ?? 0,
      callbackFaults: sum(series, 'herald_callback_faults_total') ?? 0,
      messagesSent: sum(series, 'herald_ws_messages_sent_total', { app: APP.id }) ?? 0,
      closedByCode: closedByCode(series),
    };
  } catch (err) {
    return { error: err.message ?? String(err) };
  }
}

function closedByCode(series) {
  const out = {};
  for (const s of series) if (s.name === 'herald_connections_closed_total' && s.labels.app === APP.id) out[s.labels.code] = s.value;
  return out;
}

/**
 * The load generator's own load since the previous `read()`: event-loop delay p99 (ms) and CPU
 * (% of one core), both undefined when under 0.5 s has passed. A generator near 100 % or with
 * a long lag is the bottleneck, not the server.
 */
export function generatorLoad() {
  const h = monitorEventLoopDelay({ resolution: 20 });
  h.enable();
  let cpu = process.cpuUsage();
  let at = performance.now();
  return {
    read() {
      if (performance.now() - at < 500) return { lagP99Ms: undefined, cpuPct: undefined };
      const lagP99Ms = h.percentile(99) / 1e6;
      h.reset();
      const used = process.cpuUsage(cpu);
      const now = performance.now();
      const cpuPct = (100 * (used.user + used.system)) / 1000 / Math.max(1, now - at);
      cpu = process.cpuUsage();
      at = now;
      return { lagP99Ms, cpuPct };
    },
    stop: () => h.disable(),
  };
}
