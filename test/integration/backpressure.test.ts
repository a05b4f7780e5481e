/**
 * Issue 4's backpressure rule against a real server: a pusher-js client whose socket stops
 * reading is disconnected once its buffered data passes maxBackpressureBytes, while a second
 * client keeps receiving every event; the server's RSS (same process, /proc/self/status) stays
 * bounded; the stalled client, once it reads again, sees the close and pusher-js reconnects.
 */
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP, connected, FrameReader, once, rawConnect, startServer, subscribed, type PusherJS, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const BACKPRESSURE = 256 * 1024;
const PAYLOAD = 'x'.repeat(9_000);
const BATCH = 10; // events per REST request: ~90 KB
const MAX_BATCHES = 450; // ~40 MB: far more than the kernel's socket buffers plus the limit
const WARM_BATCHES = 150;

let t: TestServer;
beforeAll(async () => {
  t = await startServer({ maxBackpressureBytes: BACKPRESSURE, apps: [{ ...APP, limits: { maxRestRequestsPerSec: 100_000 } }] });
});
afterAll(() => t.close());

function rssBytes(): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  return Number(kb) * 1024;
}

/** RSS outside the V8 heap: where uWS keeps per-socket send buffers (the heap only adds noise). */
function nativeBytes(): number {
  return rssBytes() - process.memoryUsage().heapTotal;
}

/** The net.Socket under pusher-js's WebSocket (faye-websocket in the Node build). */
function tcpSocketOf(client: PusherJS): Socket {
  const transport = (client.connection as unknown as { connection: { transport: { socket: { _stream: Socket } } } }).connection.transport;
  return transport.socket._stream;
}

/** A raw subscriber that only counts `event` frames, so the test process holds no backlog. */
async function countingSubscriber(channel: string, event: string): Promise<{ count: () => number; reader: FrameReader }> {
  const { reader } = await rawConnect(t);
  reader.send({ event: 'pusher:subscribe', data: { channel, auth: '' } });
  await reader.event('pusher_internal:subscription_succeeded');
  let n = 0;
  reader.ws.removeAllListeners('message');
  reader.ws.on('message', (m: Buffer) => {
    if (m.includes(`"event":"${event}"`)) n++;
  });
  return { count: () => n, reader };
}

describe('backpressure', () => {
  it('disconnects a client that stops reading, keeps serving the others, and stays bounded in memory', async () => {
    const slow = t.client();
    const slowId = await connected(slow);
    await subscribed(slow, 'firehose');
    const fast = await countingSubscriber('firehose', 'big');
    const sdk = t.sdk();
    const batch = Array.from({ length: BATCH }, () => ({ channel: 'firehose', name: 'big', data: PAYLOAD }));

    const socket = tcpSocketOf(slow);
    socket.pause();
    const rssStart = rssBytes();
    let rssPeak = 0;
    let nativeWarm = 0;
    let nativePeak = 0;
    let sent = 0;
    let droppedAfter = 0;
    // Publish far more than the kernel's socket buffers and the limit together could hold.
    for (let i = 1; i <= MAX_BATCHES; i++) {
      await sdk.triggerBatch(batch);
      sent += BATCH;
      if (droppedAfter === 0 && !t.server.core.connection(slowId) !== undefined) droppedAfter = sent;
      rssPeak = Math.max(rssPeak, rssBytes());
      if (i === WARM_BATCHES) nativeWarm = nativeBytes();
      if (i >= WARM_BATCHES) nativePeak = Math.max(nativePeak, nativeBytes());
    }
    expect(droppedAfter).toBeGreaterThan(0);
    // Everyone else keeps receiving: the fast client gets every event, in full.
    await waitFor(() => fast.count() >= sent, `${sent} events on the fast client`, 5000, 10);
    expect(fast.count()).toBe(sent);
    // Bounded: after warm-up, RSS outside the V8 heap stays flat while another ~27 MB is published.
    // Calibration: with maxBackpressureBytes raised past the volume, the same run grows it ~1 MB per MB.
    const mb = (n: number): string => (n / 1e6).toFixed(1);
    const afterWarm = (MAX_BATCHES - WARM_BATCHES) * BATCH * PAYLOAD.length;
    console.log(
      `backpressure: stalled client dropped after ${mb(droppedAfter * PAYLOAD.length)} MB; ${mb(sent * PAYLOAD.length)} MB published; ` +
        `RSS ${mb(rssStart)} MB at start, peak ${mb(rssPeak)} MB; outside the heap ${mb(nativeWarm)} MB after warm-up, ` +
        `peak ${mb(nativePeak)} MB while ${mb(afterWarm)} MB more went out`,
    );
    expect(nativePeak - nativeWarm).toBeLessThan(8 * 1024 * 1024);
    expect(rssPeak - rssStart).toBeLessThan(64 * 1024 * 1024);

    // Once the stalled client reads again it sees the close (no 4xxx frame can overtake the
    // buffered data; uWS drops the TCP connection), and pusher-js reconnects on its own.
    const reconnected = once<void>((cb) => slow.connection.bind('connected', () => cb()), 'pusher-js reconnect', 8000);
    socket.resume();
    await reconnected;
    expect(slow.connection.socket_id).not.toBe(slowId);
    await once((cb) => (slow.channel('firehose').subscribed ? cb(null) : slow.channel('firehose').bind('pusher:subscription_succeeded', cb)), 'resubscribed');
    const again = once((cb) => slow.channel('firehose').bind('after', cb), 'event after reconnect');
    await sdk.trigger('firehose', 'after', { ok: true });
    expect(await again).toEqual({ ok: true });
  });

  it('closes a raw client over the limit with 1006 on both sides (uWS drops the connection without a close frame)', async () => {
    const { reader, socketId } = await rawConnect(t);
    reader.send({ event: 'pusher:subscribe', data: { channel: 'firehose-raw', auth: '' } });
    await reader.event('pusher_internal:subscription_succeeded');
    reader.ws.removeAllListeners('message');
    const tcp = (reader.ws as unknown as { _socket: Socket })._socket;
    tcp.pause();
    const closes: Array<number | undefined> = [];
    const conn = t.server.core.connection(socketId);
    const origClosed = t.server.core.closed.bind(t.server.core);
    t.server.core.closed = (c, code) => {
      if (c === conn) closes.push(code);
      origClosed(c, code);
    };
    const sdk = t.sdk();
    const batch = Array.from({ length: BATCH }, () => ({ channel: 'firehose-raw', name: 'big', data: PAYLOAD }));
    for (let i = 0; i < MAX_BATCHES && t.server.core.connection(socketId) !== undefined; i++) await sdk.triggerBatch(batch);
    t.server.core.closed = origClosed;
    expect(closes).toEqual([1006]);
    tcp.resume();
    expect((await reader.waitClose(8000)).code).toBe(1006);
  });
});
