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
// - exit code 0 when the server stayed alive and no steady delivery was lost, else 1.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runChurners } from './soak/churn.mjs';
import { runHostile, SLOW_PAUSE_MS } from './soak/hostile.mjs';
import { generatorLag, scrape } from './soak/metrics.mjs';
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

async function main() {
  const options = readOptions();
  const counters = new Counters();
  const server = new HeraldProcess(REPO_DIR, { keepState: options.keepState });
  const load = new Stop(); // ends the load phase: duration reached, SIGINT, or the server died
  const state = { interrupted: false, exitedDuringRun: undefined };
  installSignals(server, load, state);
  const hardStop = setTimeout(() => {
    log(`hard stop after ${options.hardStopSec} s: killing the server`);
    server.killNow();
    process.exit(1);
  }, options.hardStopSec * 1000);
  hardStop.unref();

  await server.start();
  server.onExit((how) => {
    if (load.stopped) return;
    state.exitedDuringRun = how;
    log(`SERVER EXITED during the run: ${JSON.stringify(how)}`);
    load.stop();
  });
  log(`herald pid ${server.pid} on 127.0.0.1:${server.port}, metrics :${server.metricsPort}; ${options.durationSec} s, ${options.connections} client slots`);

  const { pusher, agent } = pusherClient(server.port);
  const maxSeq = Math.ceil(options.rates.seqPerSec * (options.durationSec + 30));
  const seq = new SeqPublisher(pusher, counters, load, options.rates.seqPerSec, maxSeq);
  const lag = generatorLag();
  const samples = [];
  let t0 = Date.now();
  const takeSample = async (label) => {
    const s = makeSample(label, (Date.now() - t0) / 1000, await scrape(server.metricsPort), samples.at(-1), counters, lag.p99Ms());
    samples.push(s);
    log(`${label} ${s.elapsedSec}s: ${s.error ? `scrape failed: ${s.error}` : `rss ${s.rssMB} MB, fds ${s.fds}, conns ${s.connections}, lag p99 ${s.loopLagP99Ms} ms, cpu ${s.cpuPct ?? '–'} %`}; client errors ${s.client.errors}`);
  };
  await takeSample('start');

  // Steady readers first: the sequence stream starts once all of them are subscribed.
  const readers = await openSteadyReaders(options.steady, server.port, counters, seq);
  log(`${readers.length} steady readers subscribed`);
  t0 = Date.now();
  seq.start();
  const ctx = { port: server.port, counters, stop: load, rooms: options.rooms };
  const rampMs = options.rampSec * 1000;
  const maxLives = Math.ceil(options.durationSec / 3) + 2;
  const loops = [
    runChurners(ctx, options.churn, rampMs, maxLives),
    runHostile(ctx, options.slow, options.malformed, rampMs, maxLives),
    backgroundPublishing(pusher, counters, load, options.rates.backgroundPerSec, options.rooms),
    firehosePublishing(pusher, counters, load, options.rates.firehosePerSec),
  ];

  const deadline = t0 + options.durationSec * 1000;
  while (!load.stopped) {
    await load.sleep(Math.min(options.sampleEverySec * 1000, deadline - Date.now()));
    if (load.stopped) break;
    const atEnd = Date.now() >= deadline - 50;
    await takeSample(atEnd ? 'end' : 'run');
    if (atEnd) break;
  }
  const elapsedSec = Math.round((Date.now() - t0) / 1000);
  load.stop();
  log('load stopped; draining');

  await seq.finished;
  const drainedMs = await drainSteady(readers, seq.lastOkSeq, DRAIN_STEADY_MS);
  const loss = lossReport(readers, seq);
  await withTimeout(Promise.all(loops), LOAD_STOP_MS, 'load loops did not end').catch((err) => counters.tally('teardown', err.message));
  closeSteady(readers);
  agent.destroy(); // the REST keep-alive sockets, so the after-close fds compare with the start
  if (server.alive) {
    await waitForNoConnections(server.metricsPort, CLOSE_WAIT_MS);
    await takeSample('after close');
  }
  const lastUnderLoad = samples.findLast((s) => s.label === 'end' || s.label === 'run');
  const aliveAtEnd = server.alive && state.exitedDuringRun === undefined && lastUnderLoad !== undefined && !lastUnderLoad.error;
  lag.stop();
  const stopped = await server.stop();

  const verdict = judge(samples, options.durationSec);
  const result = {
    kind: 'herald-soak',
    startedAt: new Date(t0).toISOString(),
    elapsedSec,
    interrupted: state.interrupted,
    options,
    pass: aliveAtEnd && loss.lost === 0,
    server: { pid: server.pid, aliveAtEnd, exitedDuringRun: state.exitedDuringRun, stopped, warnings: server.warnings, stderrTail: state.exitedDuringRun ? server.stderrTail : undefined, stateDir: options.keepState ? server.stateDir : undefined },
    loss: { ...loss, lastSeq: seq.lastOkSeq, failedSeqs: seq.failedSeqs.length, drainedMs },
    verdict,
    clientErrors: clientErrors(counters),
    slowPauseSec: SLOW_PAUSE_MS / 1000,
    counters: counters.snapshot(),
    tallies: counters.tallies,
    closedByCode: samples.findLast((s) => s.closedByCode)?.closedByCode,
    samples,
  };
  const file = writeResult(BENCH_DIR, result);
  console.log(`\n## Herald soak: ${elapsedSec} s, ${options.connections} client slots\n`);
  console.log(samplesTable(samples));
  console.log(summaryText(result));
  console.log(`\nJSON: ${path.relative(REPO_DIR, file)}`);
  process.exit(result.pass ? 0 : 1);
}

main().catch((err) => {
  log(`failed: ${err?.stack ?? err}`);
  process.exit(1); // the 'exit' handler kills the server
});
