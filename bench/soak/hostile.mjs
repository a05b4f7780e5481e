// Misbehaving clients. Slow readers hold the firehose channel and stop reading, so the
// server's per-connection backpressure limit drops them (expected, not loss). Malformed
// senders send bad frames one at a time; each must be answered by exactly one pusher:error
// and the connection must stay usable (a pusher:ping afterwards gets its pusher:pong).
import { FIREHOSE } from './publisher.mjs';
import { PusherSocket } from './socket.mjs';
import { clip, nextClientAddress } from './util.mjs';

export const SLOW_PAUSE_MS = 30_000;
const SLOW_RESUME_WAIT_MS = 5000;
const REPLY_TIMEOUT_MS = 3000;
const MALFORMED_GAP_MS = 250;
const FRAMES_PER_LIFE = 40;

const deep = (n, open, close, inner) => open.repeat(n) + inner + close.repeat(n);

/** Frames the server must answer with one pusher:error each, keeping the connection. */
export const MALFORMED_FRAMES = Object.freeze([
  ['not JSON', 'this is not json {'],
  ['empty text', ''],
  ['binary frame', Buffer.from([0x00, 0x01, 0xfe, 0xff])],
  ['JSON string', '"just a string"'],
  ['JSON array', '[1,2,3]'],
  ['no event', '{"data":{"channel":"x"}}'],
  ['numeric event', '{"event":42,"data":{}}'],
  ['100-deep array', deep(100, '[', ']', '')],
  ['100-deep subscribe data', `{"event":"pusher:subscribe","data":${deep(100, '{"a":', '}', '1')}}`],
  ['100-deep client event data', `{"event":"client-x","channel":"private-x","data":${deep(100, '[', ']', '')}}`],
  ['unknown event', '{"event":"soak:unknown-event","data":{}}'],
  ['subscribe data not JSON', '{"event":"pusher:subscribe","data":"{not json"}'],
  ['invalid channel name', '{"event":"pusher:subscribe","data":{"channel":"bad channel name!"}}'],
  ['unsubscribe without channel', '{"event":"pusher:unsubscribe","data":{}}'],
  ['client event, not subscribed', '{"event":"client-x","channel":"private-not-subscribed","data":{}}'],
  ['client event without channel', '{"event":"client-x","data":{}}'],
]);

/** Slot loop shared by both kinds: start after `delayMs`, at most maxLives lives, 1 s apart. */
async function slotLoop(ctx, delayMs, maxLives, life) {
  await ctx.stop.sleep(delayMs);
  for (let n = 1; n <= maxLives && !ctx.stop.stopped; n++) {
    try {
      await life();
    } catch (err) {
      ctx.counters.tally('hostile client failures', clip(err.message, 100));
    }
    await ctx.stop.sleep(1000);
  }
}

/** One slow reader: subscribe to the firehose, stop reading for 30 s, resume, see if the server dropped it. */
async function slowLife(ctx) {
  const { counters, stop } = ctx;
  const sock = new PusherSocket(ctx.port, nextClientAddress(), counters);
  sock.onEvent = (frame) => {
    if (frame.event === 'fire') counters.add('firehoseReceived');
  };
  try {
    await sock.connect();
    await sock.subscribe(FIREHOSE);
    sock.pauseReading();
    counters.add('slowPaused');
    await stop.sleep(SLOW_PAUSE_MS);
    const cutShort = stop.stopped;
    sock.resumeReading();
    const closed = await sock.closedWithin(SLOW_RESUME_WAIT_MS);
    if (closed && !sock.closedByUs) {
      counters.add('slowDroppedByServer');
      counters.tally('slow readers closed by the server', sock.closeCode);
    } else {
      counters.add(cutShort ? 'slowPauseCutShort' : 'slowSurvived');
    }
  } finally {
    sock.terminate();
  }
}

/** Waits (at most ms) for the next frame named `event` on sock; resolves it, or undefined on timeout. Other frames go to the previous handler. */
function nextFrame(sock, event, ms) {
  return new Promise((resolve) => {
    const previous = sock.onEvent;
    const done = (frame) => {
      clearTimeout(timer);
      sock.onEvent = previous;
      resolve(frame);
    };
    const timer = setTimeout(() => done(undefined), ms);
    sock.onEvent = (frame) => {
      if (frame.event === event) done(frame);
      else previous(frame);
    };
  });
}

/** One malformed sender: FRAMES_PER_LIFE bad frames, one at a time, then a ping check. */
async function malformedLife(ctx, slot) {
  const { counters, stop } = ctx;
  const sock = new PusherSocket(ctx.port, nextClientAddress(), counters);
  sock.onEvent = (frame) => counters.tally('unexpected frames', `malformed sender: ${clip(String(frame.event), 60)}`);
  let lastSent = '(none)';
  sock.onClose = (code, byUs) => {
    if (!byUs) counters.tally('malformed senders closed by the server', `${code} after "${lastSent}"`);
  };
  try {
    await sock.connect();
    for (let i = 0; i < FRAMES_PER_LIFE && !stop.stopped && !sock.closed; i++) {
      const [name, frame] = MALFORMED_FRAMES[(slot + i) % MALFORMED_FRAMES.length];
      const reply = nextFrame(sock, 'pusher:error', REPLY_TIMEOUT_MS);
      lastSent = name;
      sock.send(frame);
      counters.add('malformedSent');
      if (await reply) counters.add('malformedAnswered');
      else if (!sock.closed) counters.tally('malformed frames without a pusher:error', name);
      await stop.sleep(MALFORMED_GAP_MS);
    }
    if (sock.closed) return;
    const pong = nextFrame(sock, 'pusher:pong', REPLY_TIMEOUT_MS);
    sock.send({ event: 'pusher:ping', data: {} });
    if (await pong) counters.add('malformedLivesUsable');
    else counters.tally('malformed senders unusable afterwards', 'no pusher:pong');
  } finally {
    sock.close();
  }
}

/** Runs the slow-reader and malformed-sender slots until ctx.stop. */
export function runHostile(ctx, slowSlots, malformedSlots, rampMs, maxLives) {
  const slots = [];
  for (let i = 0; i < slowSlots; i++) slots.push(slotLoop(ctx, (i * rampMs) / Math.max(1, slowSlots), maxLives, () => slowLife(ctx)));
  for (let i = 0; i < malformedSlots; i++) slots.push(slotLoop(ctx, (i * rampMs) / Math.max(1, malformedSlots), maxLives, () => malformedLife(ctx, i)));
  return Promise.all(slots);
}
