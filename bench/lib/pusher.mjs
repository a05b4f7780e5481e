// Pusher-protocol client behaviour for the load generator, on top of RawWs.
import { RawWs, sourceAddress } from './wsclient.mjs';
import { APP, HOST } from './servers.mjs';
import { channelAuth } from './rest.mjs';

export const WS_PATH = `/app/${APP.key}?protocol=7&client=js&version=8.6.0&flash=false`;

const SUB_OK = Buffer.from('pusher_internal:subscription_succeeded');
const ESTABLISHED = Buffer.from('pusher:connection_established');
const ERROR = Buffer.from('pusher:error');
const SUB_ERROR = Buffer.from('pusher:subscription_error');

export function socketIdOf(payload) {
  const m = JSON.parse(payload.toString());
  const d = typeof m.data === 'string' ? JSON.parse(m.data) : m.data;
  return d.socket_id;
}

export function subscribeFrame(channel, socketId, channelData) {
  if (channel.startsWith('presence-')) {
    const auth = channelAuth(APP.key, APP.secret, socketId, channel, channelData);
    return JSON.stringify({ event: 'pusher:subscribe', data: { auth, channel, channel_data: channelData } });
  }
  if (channel.startsWith('private-')) {
    const auth = channelAuth(APP.key, APP.secret, socketId, channel);
    return JSON.stringify({ event: 'pusher:subscribe', data: { auth, channel } });
  }
  return `{"event":"pusher:subscribe","data":{"auth":"","channel":${JSON.stringify(channel)}}}`;
}

export const has = (payload, needle) => payload.indexOf(needle) >= 0;
export const isSubOk = (p) => p.indexOf(SUB_OK) >= 0;
export const isError = (p) => p.indexOf(ERROR) >= 0 || p.indexOf(SUB_ERROR) >= 0;

/**
 * Open `n` connections (at most `window` handshakes in flight), each subscribing to
 * channelOf(i) (optionally with presence channel data from dataOf(i)). Resolves when all
 * are subscribed or failed, or at timeoutMs. Latency = TCP connect start → subscription_succeeded.
 * onMessage(ws, payload) receives every frame after the subscription succeeded.
 */
export function connectMany({ port, n, window = 128, channelOf, dataOf, onMessage, timeoutMs = 120000, addrOffset = 0, errors }) {
  return new Promise((resolve) => {
    const clients = [];
    const lat = [];
    let started = 0;
    let finished = 0;
    let failed = 0;
    let firstFailure = null;
    let done = false;
    const t0 = performance.now();
    const timer = setTimeout(() => finish(true), timeoutMs);
    const finish = (timedOut = false) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ clients, lat, failed: failed + (n - finished), firstFailure, timedOut, seconds: (performance.now() - t0) / 1000 });
    };
    const settle = () => {
      finished++;
      if (finished === n) finish();
      else launch();
    };
    const launch = () => {
      if (done || started >= n) return;
      const i = started++;
      const tStart = performance.now();
      const channel = channelOf(i);
      let state = 0;
      const ws = new RawWs({
        host: HOST,
        port,
        path: WS_PATH,
        localAddress: sourceAddress(addrOffset + i),
        onMessage: (w, p) => {
          if (state === 2) {
            if (onMessage) onMessage(w, p);
            return;
          }
          if (state === 0 && p.indexOf(ESTABLISHED) >= 0) {
            w.socketId = socketIdOf(p);
            w.send(subscribeFrame(channel, w.socketId, dataOf ? dataOf(i) : undefined));
            state = 1;
          } else if (state === 1 && isSubOk(p)) {
            state = 2;
            lat.push(performance.now() - tStart);
            settle();
          } else if (isError(p)) {
            if (errors) errors.push(p.toString().slice(0, 300));
            if (firstFailure === null) firstFailure = p.toString().slice(0, 300);
          }
        },
        onClose: (w, err) => {
          if (state < 2) {
            state = 3;
            failed++;
            if (firstFailure === null) firstFailure = err ? err.message : `closed ${w.closeCode ?? ''} ${w.closeReason ?? ''}`;
            settle();
          }
        },
      });
      ws.index = i;
      ws.channel = channel;
      clients.push(ws);
    };
    if (n === 0) return finish();
    for (let k = 0; k < Math.min(window, n); k++) launch();
  });
}

/** Close every client with RST and wait briefly for the server to notice. */
export function killAll(clients) {
  for (const c of clients) c.kill();
}
