// REST publishing through the official `pusher` SDK over one keep-alive agent: the
// sequence-numbered stream the loss check is built on, background traffic to the churn rooms,
// and the 8 KB "firehose" the slow readers hold. Every loop is paced and ends on stop.
import http from 'node:http';
import Pusher from 'pusher';
import { APP, HOST } from './server.mjs';
import { clip, pick, randInt } from './util.mjs';

const REQUEST_TIMEOUT_MS = 10_000;
export const STEADY_PUBLIC = 'soak-steady';
export const STEADY_PRESENCE = 'presence-soak-steady';
export const FIREHOSE = 'soak-firehose';
const FIREHOSE_PAD = 'x'.repeat(8000);

export function pusherClient(port) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const pusher = new Pusher({ appId: APP.id, key: APP.key, secret: APP.secret, host: HOST, port: String(port), useTLS: false, timeout: REQUEST_TIMEOUT_MS, agent });
  return { pusher, agent };
}

/** Runs one trigger, counting it; resolves true on a 2xx answer, false otherwise (never throws). */
async function trigger(pusher, counters, channels, event, data) {
  try {
    await pusher.trigger(channels, event, data);
    counters.add('publishes');
    return true;
  } catch (err) {
    counters.add('publishErrors');
    counters.tally('publish errors', clip(err.status ? `HTTP ${err.status} ${err.body ?? ''}` : err.message ?? String(err), 100));
    return false;
  }
}

/**
 * The sequence stream: seq 1, 2, 3… to both steady channels in one trigger each, one request
 * in flight, `perSec` at most, at most `maxSeq` in all. Contract for the loss check: `okSeqs`
 * holds each seq whose trigger was answered 2xx, `failedSeqs` the others; `nextSeq` is the seq
 * the next trigger will carry (so a subscriber that succeeded before a trigger started has
 * fromSeq ≤ that seq). `finished` resolves after the last trigger was answered.
 */
export class SeqPublisher {
  nextSeq = 1;
  okSeqs = [];
  failedSeqs = [];
  finished = Promise.resolve();

  constructor(pusher, counters, stop, perSec, maxSeq) {
    Object.assign(this, { pusher, counters, stop, perSec, maxSeq });
  }

  start() {
    this.finished = this.#run();
  }

  async #run() {
    const t0 = Date.now();
    while (!this.stop.stopped && this.nextSeq <= this.maxSeq) {
      const seq = this.nextSeq++;
      const ok = await trigger(this.pusher, this.counters, [STEADY_PUBLIC, STEADY_PRESENCE], 'seq', { seq, sentAt: Date.now() });
      (ok ? this.okSeqs : this.failedSeqs).push(seq);
      await this.stop.sleep(t0 + (seq * 1000) / this.perSec - Date.now());
    }
  }

  get lastOkSeq() {
    return this.okSeqs.length ? this.okSeqs[this.okSeqs.length - 1] : 0;
  }
}

/**
 * Paced publishing by `workers` concurrent loops sharing one schedule: publish n is due at
 * t0 + n/perSec; a worker behind schedule publishes at once but never more than `workers`
 * requests are in flight, and never more than maxCount in all. `makeTrigger()` returns
 * [channels, event, data].
 */
async function pacedLoop(pusher, counters, stop, perSec, maxCount, workers, makeTrigger) {
  if (perSec <= 0) return;
  const t0 = Date.now();
  let n = 0;
  const worker = async () => {
    while (!stop.stopped && n < maxCount) {
      const due = t0 + (n++ * 1000) / perSec;
      await stop.sleep(due - Date.now());
      if (stop.stopped) return;
      const [channels, event, data] = makeTrigger();
      await trigger(pusher, counters, channels, event, data);
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
}

/** Small events to random churn rooms of every kind. */
export function backgroundPublishing(pusher, counters, stop, perSec, maxCount, rooms) {
  let n = 0;
  return pacedLoop(pusher, counters, stop, perSec, maxCount, 8, () => {
    const room = randInt(0, rooms - 1);
    const channel = pick([`room-${room}`, `private-room-${room}`, `presence-room-${room}`]);
    return [channel, 'bg', { n: n++, at: Date.now() }];
  });
}

/** 8 KB events to the channel the slow readers are subscribed to. */
export function firehosePublishing(pusher, counters, stop, perSec, maxCount) {
  let n = 0;
  return pacedLoop(pusher, counters, stop, perSec, maxCount, 4, () => [FIREHOSE, 'fire', { n: n++, pad: FIREHOSE_PAD }]);
}
