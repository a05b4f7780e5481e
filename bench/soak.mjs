#!/usr/bin/env node
// Soak run: a bounded mixed load against one real Herald process on 127.0.0.1, watching its
// memory, file descriptors and event loop over time and checking that steady readers lose
// nothing. `npm run soak` builds first; then:
//
//   node bench/soak.mjs [--duration SECONDS] [--connections N] …   (--help for all options)
//
// Contract:
// - talks to 127.0.0.1 only (client sockets bound to 127.0.0.2–20); every loop is bounded in
//   count and time; the run ends by itself after --duration (+ at most ~1 min of teardown,
//   hard stop at duration + 180 s) and always kills the server it started, also on SIGINT.
// - prints a markdown table of the samples and a summary, and writes the same as JSON to
//   bench/results/soak-<timestamp>.json.
// - exit code 0 when the server stayed alive and no steady delivery was lost, else 1
//   (130 when SIGINT/SIGTERM ended the load early; the report is still written).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runChurners } from './soak/churn.mjs';
import { runHostile, SLOW_PAUSE_MS } from './soak/hostile.mjs';
import { generatorLoad, scrape } from './soak/metrics.mjs';
import { readOptions } from './soak/options.mjs';
import { backgroundPublishing, firehosePublishing, pusherClient, SeqPublisher } from './soak/publisher.mjs';
import { clientErrors, judge, makeSample, samplesTable, summaryText, writeResult } from './soak/report.mjs';
import { HeraldProcess } from './soak/server.mjs';
import { closeSteady, drainSteady, lossReport, openSteadyReaders } from './soak/steady.mjs';
import { Counters, sleep, Stop, withTimeout } from './soak/util.mjs';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const REPO_DIR = path.resolve(BENCH_DIR, '..');

const DRAIN_STEADY_MS = 10_000; // steady readers get this long to receive the last seq
const LOAD_STOP_MS = 30_000; // every load loop has closed its sockets within this
const CLOSE_WAIT_MS = 10_000; // the server reports 0 connections within this after the clients closed

const log = (msg) => process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

/** SIGINT/SIGTERM once: end the load early and report. Twice: kill the server and exit 130. */
function installSignals(server, load, state) {
  const onSignal = (name) => {
    if (state.interrupted) {
      log(`${name} again: killing the server and exiting`);
      server.killNow();
      process.exit(130);
    }
    state.interrupted = true;
    log(`${name}: stopping the load; the report follows (${name} again to abort at once)`);
    load.stop();
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('exit', () => server.killNow());
  const die = (err) => {
    log(`fatal: ${err?.stack ?? err}`);
    server.killNow();
    process.exit(1);
  };
  process.on('uncaughtException', die);
  process.on('unhandledRejection', die);
}

/** Waits (up to ms) until the server reports no open connection; returns the last scrape. */
async function waitForNoConnections(metricsPort, ms) {
  const t0 = Date.now();
  let last = await scrape(metricsPort);
  while (!last.error && last.connections > 0 && Date.now() - t0 < ms) {
    await sleep(500);
    last = await scrape(metricsPort);
  }
  return last;
}

/** Starts every load loop; each ends on `load.stop()` (or its count cap). Resolves when all have. */
function startLoad(ctx, options, pusher) {
  const { counters, stop } = ctx;
  const rampMs = options.rampSec * 1000;
  const maxLives = Math.ceil(options.durationSec / 3) + 2; // a churner life lasts ≥ 3 s
  const maxPublishes = (perSec) => Math.ceil(perSec * (options.durationSec + 30));
  const { backgroundPerSec, firehosePerSec } = options.rates;
  return Promise.all([
    runChurners(ctx, options.churn, rampMs, maxLives),
    runHostile(ctx, options.slow, options.malformed, rampMs, maxLives),
    backgroundPublishing(pusher, counters, stop, backgroundPerSec, maxPublishes(backgroundPerSec), options.rooms),
    firehosePublishing(pusher, counters, stop, firehosePerSec, maxPublishes(firehosePerSec)),
  ]);
}

/** Samples every `everyMs` until the deadline (the last one labelled "end") or until load stops. */
async function sampleUntil(deadline, everyMs, load, takeSample) {
  while (!load.stopped) {
    await load.sleep(Math.min(everyMs, deadline - Date.now()));
    if (load.stopped) return;
    const atEnd = Date.now() >= deadline - 50;
    await takeSample(atEnd ? 'end' : 'run');
    if (atEnd) return;
  }
}

/** The samples series: scrape + client counters + generator load, logged as it goes. */
function sampler(server, counters) {
  const generator = generatorLoad();
  const samples = [];
  let t0 = Date.now();
  const take = async (label) => {
    const s = makeSample(label, (Date.now() - t0) / 1000, await scrape(server.metricsPort), samples.at(-1), counters, generator.read());
    samples.push(s);
    const numbers = s.error ? `scrape failed: ${s.error}` : `rss ${s.rssMB} MB, fds ${s.fds}, conns ${s.connections}, lag p99 ${s.loopLagP99Ms} ms, cpu ${s.cpuPct ?? '–'} %`;
    log(`${label} ${s.elapsedSec}s: ${numbers}; client errors ${s.client.errors}`);
  };
  return {
    samples,
    take,
    restartClock: () => (t0 = Date.now()),
    elapsedSec: () => (Date.now() - t0) / 1000,
    stop: () => generator.stop(),
  };
}

async function main() {
  const options = readOptions();
  const counters = new Counters();
  const server = new HeraldProcess(REPO_DIR, { keepState: options.keepState });
  const load = new Stop(); // ends the load phase: duration reached, SIGINT, or the server died
  const state = { interrupted: false, stopping: false, exitedDuringRun: undefined };
  installSignals(server, load, state);
  setTimeout(() => {
    log(`hard stop after ${options.hardStopSec} s: killing the server`);
    server.killNow();
    process.exit(1);
  }, options.hardStopSec * 1000).unref();

  await server.start();
  server.onExit((how) => {
    if (state.stopping) return;
    state.exitedDuringRun = how;
    log(`SERVER EXITED: ${JSON.stringify(how)}`);
    load.stop();
  });
  log(`herald pid ${server.pid} on 127.0.0.1:${server.port}, metrics :${server.metricsPort}; ${options.durationSec} s, ${options.connections} client slots`);

  const { pusher, agent } = pusherClient(server.port);
  const seq = new SeqPublisher(pusher, counters, load, options.rates.seqPerSec, Math.ceil(options.rates.seqPerSec * (options.durationSec + 30)));
  const series = sampler(server, counters);
  await series.take('start');

  // Steady readers first: the sequence stream starts once all of them are subscribed.
  const readers = await openSteadyReaders(options.steady, server.port, counters, seq);
  log(`${readers.length} steady readers subscribed`);
  const startedAt = new Date(series.restartClock()).toISOString();
  seq.start();
  const loops = startLoad({ port: server.port, counters, stop: load, rooms: options.rooms }, options, pusher);
  await sampleUntil(Date.now() + options.durationSec * 1000, options.sampleEverySec * 1000, load, series.take);
  const elapsedSec = Math.round(series.elapsedSec());
  load.stop();
  log('load stopped; draining');

  // Teardown: last seqs reach the steady readers, every loop closes its sockets, the server
  // should then report 0 connections; then it is stopped.
  await seq.finished;
  const drainedMs = await drainSteady(readers, seq.lastOkSeq, DRAIN_STEADY_MS);
  const loss = { ...lossReport(readers, seq), lastSeq: seq.lastOkSeq, failedSeqs: seq.failedSeqs.length, drainedMs };
  await withTimeout(loops, LOAD_STOP_MS, 'load loops did not end').catch((err) => counters.tally('teardown', err.message));
  closeSteady(readers);
  agent.destroy(); // the REST keep-alive sockets, so the after-close fds compare with the start
  if (server.alive) {
    await waitForNoConnections(server.metricsPort, CLOSE_WAIT_MS);
    await series.take('after close');
  }
  const lastUnderLoad = series.samples.findLast((s) => s.label === 'end' || s.label === 'run');
  const aliveAtEnd = server.alive && lastUnderLoad !== undefined && !lastUnderLoad.error;
  series.stop();
  state.stopping = true;
  const stopped = await server.stop();

  const result = {
    kind: 'herald-soak',
    startedAt,
    elapsedSec,
    interrupted: state.interrupted,
    options,
    pass: aliveAtEnd && loss.lost === 0,
    server: {
      pid: server.pid,
      aliveAtEnd,
      exitedDuringRun: state.exitedDuringRun,
      stopped,
      warnings: server.warnings,
      stderrTail: state.exitedDuringRun ? server.stderrTail : undefined,
      stateDir: options.keepState ? server.stateDir : undefined,
    },
    loss,
    verdict: judge(series.samples, options.durationSec),
    clientErrors: clientErrors(counters),
    slowPauseSec: SLOW_PAUSE_MS / 1000,
    counters: counters.snapshot(),
    tallies: counters.tallies,
    closedByCode: series.samples.findLast((s) => s.closedByCode)?.closedByCode,
    samples: series.samples,
  };
  const file = writeResult(BENCH_DIR, result);
  console.log(`\n## Herald soak: ${elapsedSec} s, ${options.connections} client slots\n`);
  console.log(samplesTable(series.samples));
  console.log(summaryText(result));
  console.log(`\nJSON: ${path.relative(REPO_DIR, file)}`);
  // An interrupted run proves nothing either way: 130, as for any SIGINT-ended command.
  process.exit(state.interrupted ? 130 : result.pass ? 0 : 1);
}

main().catch((err) => {
  log(`failed: ${err?.stack ?? err}`);
  process.exit(1); // the 'exit' handler kills the server
});
