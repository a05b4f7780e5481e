// Steady readers: a fixed set of connections, never churned, each subscribed to the steady
// public channel and the steady presence channel, recording every sequence number received.
// They are the loss check: each must end with every seq published (2xx) after it subscribed.
import { STEADY_PRESENCE, STEADY_PUBLIC } from './publisher.mjs';
import { PusherSocket } from './socket.mjs';
import { nextClientAddress, sleep } from './util.mjs';

const CHANNELS = [STEADY_PUBLIC, STEADY_PRESENCE];

/** Per channel: a byte per seq (0 = not seen), the first seq it must see, counts of oddities. */
class SeqLog {
  duplicates = 0;
  outOfOrder = 0;
  #last = 0;

  constructor(capacity) {
    this.seen = new Uint8Array(capacity + 1);
    this.fromSeq = Infinity; // set when the subscription succeeds
  }

  record(seq) {
    if (!Number.isInteger(seq) || seq < 1 || seq >= this.seen.length) return false;
    if (this.seen[seq]) this.duplicates++;
    this.seen[seq] = 1;
    if (seq < this.#last) this.outOfOrder++;
    this.#last = seq;
    return true;
  }
}

class SteadyReader {
  constructor(index, port, counters, capacity) {
    this.index = index;
    this.socket = new PusherSocket(port, nextClientAddress(), counters);
    this.logs = Object.fromEntries(CHANNELS.map((c) => [c, new SeqLog(capacity)]));
    this.socket.onEvent = (frame) => this.#onEvent(frame, counters);
    this.socket.onClose = (code, byUs) => {
      if (!byUs) counters.tally('steady readers closed by the server', code);
    };
  }

  #onEvent(frame, counters) {
    if (frame.event === 'seq') {
      const log = this.logs[frame.channel];
      const seq = log ? JSON.parse(frame.data).seq : undefined;
      if (!log?.record(seq)) counters.tally('unexpected frames', `steady: bad seq frame on ${frame.channel}`);
    } else if (frame.event === 'pusher:error') {
      counters.tally('steady pusher:error', String(frame.data).slice(0, 100));
    }
    // member_added / member_removed among steady readers need no check.
  }

  /** Connects and subscribes to both channels; fromSeq is taken when each subscription succeeds. */
  async start(seqPublisher) {
    await this.socket.connect();
    await Promise.all(
      CHANNELS.map(async (channel) => {
        await this.socket.subscribe(channel, `steady-${this.index}`);
        this.logs[channel].fromSeq = seqPublisher.nextSeq;
      }),
    );
  }

  /** True when every ok seq ≥ fromSeq up to `lastSeq` has arrived on both channels. */
  caughtUp(lastSeq) {
    return CHANNELS.every((c) => lastSeq < this.logs[c].fromSeq || this.logs[c].seen[lastSeq] === 1);
  }
}

/**
 * Opens `count` steady readers (32 at a time). Any failure here aborts the run: the loss
 * check needs all of them.
 */
export async function openSteadyReaders(count, port, counters, seqPublisher) {
  const readers = Array.from({ length: count }, (_, i) => new SteadyReader(i, port, counters, seqPublisher.maxSeq));
  for (let i = 0; i < readers.length; i += 32) {
    await Promise.all(readers.slice(i, i + 32).map((r) => r.start(seqPublisher)));
  }
  return readers;
}

/** Waits (up to maxMs) until every open reader has received `lastSeq`. Returns the ms waited. */
export async function drainSteady(readers, lastSeq, maxMs) {
  const t0 = Date.now();
  while (Date.now() - t0 < maxMs) {
    if (readers.every((r) => r.socket.closed || r.caughtUp(lastSeq))) break;
    await sleep(100);
  }
  return Date.now() - t0;
}

/**
 * The loss account over every steady reader and channel. expected = ok seqs ≥ fromSeq;
 * received = those of them seen; lost = expected − received. A reader the server closed
 * keeps its expectation: what it missed is lost. Seqs whose trigger failed are not expected;
 * arriving anyway is counted apart.
 */
export function lossReport(readers, seqPublisher) {
  const out = { expected: 0, received: 0, lost: 0, duplicates: 0, outOfOrder: 0, deliveredDespiteFailedPublish: 0, readersWithLoss: 0, readersClosed: 0, examples: [] };
  for (const r of readers) {
    let readerLost = 0;
    if (r.socket.closed && !r.socket.closedByUs) out.readersClosed++;
    for (const channel of CHANNELS) {
      const log = r.logs[channel];
      let missing = 0;
      const firstMissing = [];
      for (const seq of seqPublisher.okSeqs) {
        if (seq < log.fromSeq) continue;
        out.expected++;
        if (log.seen[seq]) out.received++;
        else if (++missing <= 5) firstMissing.push(seq);
      }
      for (const seq of seqPublisher.failedSeqs) if (log.seen[seq]) out.deliveredDespiteFailedPublish++;
      out.duplicates += log.duplicates;
      out.outOfOrder += log.outOfOrder;
      readerLost += missing;
      if (missing && out.examples.length < 10) {
        out.examples.push({ reader: r.index, channel, missing, firstMissing, closeCode: r.socket.closeCode });
      }
    }
    if (readerLost) out.readersWithLoss++;
  }
  out.lost = out.expected - out.received;
  return out;
}

export function closeSteady(readers) {
  for (const r of readers) r.socket.close();
}
