// Samples over time, the flatness verdicts, the markdown printed at the end and the JSON file
// written to bench/results/soak-<timestamp>.json.
import fs from 'node:fs';
import path from 'node:path';

const MB = 1024 * 1024;
/** "Flat": end ≤ warm-up × FACTOR + slack. */
const FLAT_FACTOR = 1.2;
const RSS_SLACK_MB = 16;
const FDS_SLACK = 32;

/** Tallies whose entries are client-side errors (each entry counts once per occurrence). */
const ERROR_TALLIES = [
  'socket errors',
  'unexpected frames',
  'churn pusher:error',
  'steady pusher:error',
  'steady readers closed by the server',
  'churners closed by the server',
  'hostile client failures',
  'malformed frames without a pusher:error',
  'malformed senders closed by the server',
  'malformed senders unusable afterwards',
];

export function clientErrors(counters) {
  let n = counters.get('churnFailures') + counters.get('publishErrors');
  for (const group of ERROR_TALLIES) for (const v of Object.values(counters.tallies[group] ?? {})) n += v;
  return n;
}

const round = (x, digits = 1) => (x === undefined || Number.isNaN(x) ? undefined : Number(x.toFixed(digits)));

/**
 * One row of the table from a scrape, the previous row (for server CPU %), the client counters
 * and the generator's own load. `label` is start | run | end | after close.
 */
export function makeSample(label, elapsedSec, scraped, previous, counters, generator) {
  const sample = {
    label,
    elapsedSec: round(elapsedSec, 0),
    at: new Date().toISOString(),
    client: {
      connectionsOpened: counters.get('connectionsOpened'),
      framesReceived: counters.get('framesReceived'),
      publishes: counters.get('publishes'),
      errors: clientErrors(counters),
    },
    genLagP99Ms: round(generator.lagP99Ms),
    genCpuPct: round(generator.cpuPct, 0),
  };
  if (scraped.error) return { ...sample, error: scraped.error };
  const nowMs = Date.now();
  const cpuPct =
    previous?.cpuSec !== undefined && scraped.cpuSec !== undefined && nowMs > previous.atMs
      ? (100 * (scraped.cpuSec - previous.cpuSec)) / ((nowMs - previous.atMs) / 1000)
      : undefined;
  return {
    ...sample,
    atMs: nowMs,
    rssMB: round(scraped.rssBytes / MB),
    heapMB: round(scraped.heapUsedBytes / MB),
    fds: scraped.openFds,
    loopLagP99Ms: round(scraped.loopLagP99Sec * 1000, 2),
    connections: scraped.connections,
    cpuPct: round(cpuPct, 0),
    cpuSec: scraped.cpuSec,
    callbackFaults: scraped.callbackFaults,
    messagesSent: scraped.messagesSent,
    closedByCode: scraped.closedByCode,
  };
}

const cell = (v) => (v === undefined || v === null ? '–' : String(v));

export function samplesTable(samples) {
  const head = ['sample', 'elapsed s', 'RSS MB', 'heap MB', 'fds', 'loop lag p99 ms', 'connections', 'server CPU %', 'conns opened', 'frames recv', 'publishes', 'client errors', 'gen CPU %', 'gen lag p99 ms'];
  const rows = samples.map((s) => [
    s.label,
    s.elapsedSec,
    s.rssMB,
    s.heapMB,
    s.fds,
    s.loopLagP99Ms,
    s.connections,
    s.cpuPct,
    s.client.connectionsOpened,
    s.client.framesReceived,
    s.client.publishes,
    s.client.errors,
    s.genCpuPct,
    s.genLagP99Ms,
  ]);
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) lines.push(`| ${r.map(cell).join(' | ')} |`);
  for (const s of samples) if (s.error) lines.push(`\n(${s.label} at ${s.elapsedSec} s: scrape failed: ${s.error})`);
  return lines.join('\n');
}

/**
 * Verdicts over the samples: warm-up = the first run sample at ≥ 20 % of the run; end = the
 * last sample under load. flat when end ≤ warm-up × 1.2 + slack (16 MB RSS, 32 fds).
 */
export function judge(samples, durationSec) {
  const scraped = samples.filter((s) => !s.error);
  const underLoad = scraped.filter((s) => s.label === 'run' || s.label === 'end');
  const warm = underLoad.find((s) => s.elapsedSec >= durationSec * 0.2) ?? underLoad[0];
  const end = underLoad.at(-1);
  const start = scraped.find((s) => s.label === 'start');
  const afterClose = scraped.find((s) => s.label === 'after close');
  if (!warm || !end) return { judged: false, reason: 'no samples under load' };
  const flat = (w, e, slack) => e <= w * FLAT_FACTOR + slack;
  return {
    judged: true,
    warmUp: { elapsedSec: warm.elapsedSec, rssMB: warm.rssMB, fds: warm.fds, connections: warm.connections },
    end: { elapsedSec: end.elapsedSec, rssMB: end.rssMB, fds: end.fds, connections: end.connections },
    rssFlat: flat(warm.rssMB, end.rssMB, RSS_SLACK_MB),
    fdsFlat: flat(warm.fds, end.fds, FDS_SLACK),
    peakRssMB: Math.max(...scraped.map((s) => s.rssMB)),
    peakFds: Math.max(...scraped.map((s) => s.fds)),
    maxLoopLagP99Ms: Math.max(...underLoad.map((s) => s.loopLagP99Ms)),
    afterClose: afterClose && {
      connections: afterClose.connections,
      fds: afterClose.fds,
      fdsAtStart: start?.fds,
      rssMB: afterClose.rssMB,
      rssAtStartMB: start?.rssMB,
    },
    callbackFaults: end.callbackFaults ?? 0,
  };
}

const yes = (b) => (b ? 'yes' : 'NO');

export function summaryText(result) {
  const { verdict: v, loss, server, counters, tallies, options } = result;
  const lines = ['', '## Summary', ''];
  lines.push(`- run: ${result.elapsedSec} s of load (asked ${options.durationSec} s), ${options.connections} client slots (${options.steady} steady, ${options.churn} churning, ${options.slow} slow readers, ${options.malformed} malformed senders)${result.interrupted ? ' — INTERRUPTED' : ''}`);
  lines.push(`- server alive through the run: ${yes(server.aliveAtEnd)}${server.exitedDuringRun ? ` (exited during the run: ${JSON.stringify(server.exitedDuringRun)})` : `; on SIGTERM it exited with ${JSON.stringify(server.stopped)}`}`);
  if (v.judged) {
    lines.push(`- RSS warm-up (${v.warmUp.elapsedSec} s) ${v.warmUp.rssMB} MB → end ${v.end.rssMB} MB: flat ${yes(v.rssFlat)} (peak ${v.peakRssMB} MB)`);
    lines.push(`- fds warm-up ${v.warmUp.fds} (${v.warmUp.connections} conns) → end ${v.end.fds} (${v.end.connections} conns): flat ${yes(v.fdsFlat)} (peak ${v.peakFds})`);
    lines.push(`- max server loop lag p99 under load: ${v.maxLoopLagP99Ms} ms`);
    if (v.afterClose) lines.push(`- after every client closed: ${v.afterClose.connections} connections, ${v.afterClose.fds} fds (start ${v.afterClose.fdsAtStart}), RSS ${v.afterClose.rssMB} MB (start ${v.afterClose.rssAtStartMB} MB)`);
    lines.push(`- callback faults: ${v.callbackFaults}`);
  } else {
    lines.push(`- no verdict on flatness: ${v.reason}`);
  }
  lines.push(`- deliveries to steady readers: expected ${loss.expected}, received ${loss.received}, lost ${loss.lost} (duplicates ${loss.duplicates}, out of order ${loss.outOfOrder}, steady readers closed by the server ${loss.readersClosed})`);
  const c = counters;
  lines.push(`- client side: ${c.connectionsOpened ?? 0} connections opened, ${c.subscribes ?? 0} churn subscribes, ${c.framesReceived ?? 0} frames received, ${c.clientEventsSent ?? 0} client events sent / ${c.clientEventsReceived ?? 0} received, ${c.publishes ?? 0} publishes (${c.publishErrors ?? 0} failed), ${result.clientErrors} client errors`);
  lines.push(`- slow readers: ${c.slowPaused ?? 0} paused, ${c.slowDroppedByServer ?? 0} dropped by the server (expected), ${c.slowSurvived ?? 0} survived a full ${result.slowPauseSec} s pause, ${c.slowPauseCutShort ?? 0} paused when the run ended`);
  lines.push(`- malformed frames: ${c.malformedSent ?? 0} sent, ${c.malformedAnswered ?? 0} answered with pusher:error; ${c.malformedLivesUsable ?? 0} sender connections still answered a ping afterwards`);
  lines.push(`- server warn/error log lines: ${server.warnings.count}`);
  for (const [group, t] of Object.entries(tallies)) lines.push(`- ${group}: ${JSON.stringify(t)}`);
  lines.push(`- server close codes (herald_connections_closed_total): ${JSON.stringify(result.closedByCode ?? {})}`);
  lines.push('');
  const outcome = result.interrupted ? 'INTERRUPTED (no verdict)' : result.pass ? 'PASS' : 'FAIL';
  lines.push(`**${outcome}**: server alive ${yes(server.aliveAtEnd)}, lost ${loss.lost}`);
  return lines.join('\n');
}

/** Writes bench/results/soak-<timestamp>.json and returns its path. */
export function writeResult(benchDir, result) {
  const dir = path.join(benchDir, 'results');
  fs.mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const file = path.join(dir, `soak-${stamp}.json`);
  fs.writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  return file;
}
