// Churning clients: each slot loops connect → subscribe to 1–4 room channels (public,
// private-, presence-) → a short life of client events and re-subscriptions → disconnect
// (close handshake or dropped TCP) → short pause → reconnect. Nothing here is a loss check;
// failures and server-side closes are counted.
import { PusherSocket } from './socket.mjs';
import { chance, clip, nextClientAddress, pick, randInt } from './util.mjs';

const LIFE_MS = [3000, 20_000];
const ACTION_GAP_MS = [1000, 4000];
const RECONNECT_GAP_MS = [100, 1000];

function roomChannel(rooms) {
  const room = randInt(0, rooms - 1);
  return pick([`room-${room}`, `private-room-${room}`, `presence-room-${room}`]);
}

function onChurnEvent(frame, counters) {
  const e = frame.event;
  if (e.startsWith('client-')) counters.add('clientEventsReceived');
  else if (e === 'bg') counters.add('backgroundReceived');
  else if (e === 'pusher_internal:member_added' || e === 'pusher_internal:member_removed') counters.add('memberEvents');
  else if (e === 'pusher:error') counters.tally('churn pusher:error', clip(String(frame.data), 100));
  else if (e !== 'pusher:pong') counters.tally('unexpected frames', `churn: ${clip(e, 60)}`);
}

/** One random step of a live churner: a client event, a re-subscription, or nothing. */
async function act(sock, userId, rooms, counters) {
  const roll = Math.random();
  const signed = [...sock.channels].filter((c) => !c.startsWith('room-'));
  if (roll < 0.5 && signed.length) {
    sock.clientEvent(pick(signed), 'client-soak', { from: userId, at: Date.now() });
  } else if (roll < 0.75 && sock.channels.size) {
    sock.unsubscribe(pick([...sock.channels]));
    const next = roomChannel(rooms);
    if (!sock.channels.has(next)) {
      await sock.subscribe(next, userId);
      counters.add('subscribes');
    }
  }
}

/** One connection's life. Throws on a failed connect or subscribe; always closes the socket. */
async function oneLife(ctx, slot, iteration) {
  const { port, counters, stop, rooms } = ctx;
  const sock = new PusherSocket(port, nextClientAddress(), counters);
  sock.onEvent = (frame) => onChurnEvent(frame, counters);
  sock.onClose = (code, byUs) => {
    if (!byUs) counters.tally('churners closed by the server', code);
  };
  try {
    await sock.connect();
    const userId = `c${slot}-${iteration}`;
    const channels = new Set(Array.from({ length: randInt(1, 4) }, () => roomChannel(rooms)));
    await Promise.all([...channels].map((c) => sock.subscribe(c, userId)));
    counters.add('subscribes', channels.size);
    const end = Date.now() + randInt(...LIFE_MS);
    while (!stop.stopped && !sock.closed && Date.now() < end) {
      await stop.sleep(randInt(...ACTION_GAP_MS));
      if (!stop.stopped && !sock.closed) await act(sock, userId, rooms, counters);
    }
  } finally {
    if (chance(0.8)) sock.close();
    else sock.terminate();
  }
}

/**
 * Runs `slots` churners until `stop`; slot i starts at i × rampMs / slots. Each slot runs at
 * most maxLives lives. Resolves when every slot has closed its last socket.
 */
export function runChurners(ctx, slots, rampMs, maxLives) {
  const slot = async (i) => {
    await ctx.stop.sleep((i * rampMs) / slots);
    for (let life = 1; life <= maxLives && !ctx.stop.stopped; life++) {
      try {
        await oneLife(ctx, i, life);
        ctx.counters.add('churnLives');
      } catch (err) {
        ctx.counters.add('churnFailures');
        ctx.counters.tally('churn failures', clip(err.message, 100));
      }
      await ctx.stop.sleep(randInt(...RECONNECT_GAP_MS));
    }
  };
  return Promise.all(Array.from({ length: slots }, (_, i) => slot(i)));
}
