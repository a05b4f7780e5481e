// A minimal Pusher Channels protocol 7 client over the `ws` package, enough for the soak:
// connect, subscribe (public, private-, presence- signed with the app secret), unsubscribe,
// client events, ping/pong. Every frame received is counted in the shared counters.
import { createHmac } from 'node:crypto';
import WebSocket from 'ws';
import { APP, HOST } from './server.mjs';
import { clip } from './util.mjs';

const CONNECT_TIMEOUT_MS = 10_000;
const SUBSCRIBE_TIMEOUT_MS = 10_000;

export function channelAuth(socketId, channel, channelData) {
  const toSign = channelData === undefined ? `${socketId}:${channel}` : `${socketId}:${channel}:${channelData}`;
  return `${APP.key}:${createHmac('sha256', APP.secret).update(toSign).digest('hex')}`;
}

/**
 * One client connection. Contract:
 * - `connect()` resolves with the socket id on pusher:connection_established, rejects on any
 *   error, close or timeout before that.
 * - `subscribe()` resolves on pusher_internal:subscription_succeeded for that channel, rejects
 *   on pusher:subscription_error, close or timeout.
 * - Every other parsed frame goes to `onEvent(frame)`; `onClose(code, byUs)` is called once,
 *   `byUs` telling whether close()/terminate() was called first.
 * - pusher:ping is answered with pusher:pong here.
 */
export class PusherSocket {
  socketId = undefined;
  closed = false;
  closedByUs = false;
  closeCode = undefined;
  channels = new Set();
  onEvent = () => {};
  onClose = () => {};
  #ws;
  #pending = new Map(); // channel → { resolve, reject, timer }
  #established = undefined; // connect()'s resolve, until connection_established
  #failedEarly = undefined; // connect()'s reject, until connection_established

  constructor(port, localAddress, counters) {
    this.port = port;
    this.localAddress = localAddress;
    this.counters = counters;
  }

  connect() {
    const url = `ws://${HOST}:${this.port}/app/${APP.key}?protocol=7&client=soak&version=1.0.0`;
    const ws = new WebSocket(url, { localAddress: this.localAddress, perMessageDeflate: false, handshakeTimeout: CONNECT_TIMEOUT_MS });
    this.#ws = ws;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error('connect timeout'));
        this.terminate();
      }, CONNECT_TIMEOUT_MS);
      this.#established = (id) => {
        clearTimeout(timer);
        resolve(id);
      };
      this.#failedEarly = (err) => {
        clearTimeout(timer);
        reject(err);
      };
      ws.on('message', (data, isBinary) => this.#onMessage(data, isBinary));
      ws.on('error', (err) => {
        this.counters.tally('socket errors', clip(err.code ?? err.message, 60));
        this.#failedEarly?.(err);
      });
      ws.on('close', (code) => this.#onClosed(code));
    });
  }

  #onMessage(data, isBinary) {
    this.counters.add('framesReceived');
    if (isBinary) {
      this.counters.tally('unexpected frames', 'binary frame from server');
      return;
    }
    let frame;
    try {
      frame = JSON.parse(data.toString());
    } catch {
      this.counters.tally('unexpected frames', 'non-JSON frame from server');
      return;
    }
    try {
      this.#dispatch(frame);
    } catch (err) {
      this.counters.tally('unexpected frames', `${clip(String(frame.event), 40)}: ${clip(err.message, 60)}`);
    }
  }

  #dispatch(frame) {
    switch (frame.event) {
      case 'pusher:connection_established':
        this.socketId = JSON.parse(frame.data).socket_id;
        this.counters.add('connectionsOpened');
        this.#failedEarly = undefined;
        this.#established?.(this.socketId);
        return;
      case 'pusher:ping':
        this.send({ event: 'pusher:pong', data: {} });
        return;
      case 'pusher_internal:subscription_succeeded':
        this.#settle(frame.channel, undefined);
        return;
      case 'pusher:subscription_error':
        this.#settle(frame.channel, new Error(`subscription_error ${clip(String(frame.data), 120)}`));
        return;
      default:
        this.onEvent(frame);
    }
  }

  #onClosed(code) {
    if (this.closed) return;
    this.closed = true;
    this.closeCode = code;
    this.#failedEarly?.(new Error(`closed (${code}) before connection_established`));
    for (const channel of [...this.#pending.keys()]) this.#settle(channel, new Error(`closed (${code}) while subscribing`));
    this.onClose(code, this.closedByUs);
  }

  #settle(channel, err) {
    const p = this.#pending.get(channel);
    if (p === undefined) {
      this.counters.tally('unexpected frames', err ? 'subscription_error without a pending subscribe' : 'subscription_succeeded without a pending subscribe');
      return;
    }
    this.#pending.delete(channel);
    clearTimeout(p.timer);
    if (err) p.reject(err);
    else {
      this.channels.add(channel);
      p.resolve();
    }
  }

  /** Subscribes; presence channels join as `userId`. */
  subscribe(channel, userId) {
    if (this.closed) return Promise.reject(new Error('subscribe on a closed socket'));
    const data = { channel };
    if (channel.startsWith('presence-')) {
      data.channel_data = JSON.stringify({ user_id: userId, user_info: { soak: true } });
      data.auth = channelAuth(this.socketId, channel, data.channel_data);
    } else if (channel.startsWith('private-')) {
      data.auth = channelAuth(this.socketId, channel);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.#settle(channel, new Error('subscribe timeout')), SUBSCRIBE_TIMEOUT_MS);
      this.#pending.set(channel, { resolve, reject, timer });
      this.send({ event: 'pusher:subscribe', data });
    });
  }

  unsubscribe(channel) {
    this.channels.delete(channel);
    this.send({ event: 'pusher:unsubscribe', data: { channel } });
  }

  clientEvent(channel, event, data) {
    this.send({ event, channel, data });
    this.counters.add('clientEventsSent');
  }

  /** Sends an object as JSON, or a string / Buffer as is (a Buffer goes out as a binary frame). */
  send(frame) {
    if (this.closed || this.#ws.readyState !== WebSocket.OPEN) return false;
    if (typeof frame === 'string') this.#ws.send(frame);
    else if (Buffer.isBuffer(frame)) this.#ws.send(frame, { binary: true });
    else this.#ws.send(JSON.stringify(frame));
    return true;
  }

  /** Stops reading from the TCP socket (the server's send buffer then fills up). */
  pauseReading() {
    this.#ws.pause();
  }

  resumeReading() {
    this.#ws.resume();
  }

  /** Close handshake with 1000. */
  close() {
    this.closedByUs = true;
    if (!this.closed) this.#ws.close(1000);
  }

  /** Drops the TCP connection without a close frame. */
  terminate() {
    this.closedByUs = true;
    if (!this.closed) this.#ws.terminate();
  }

  /** Resolves once the socket is closed (or after ms). */
  closedWithin(ms) {
    if (this.closed) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      this.#ws.once('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}
