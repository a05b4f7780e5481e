/**
 * Starts a real Herald server on 127.0.0.1, port 0, with a test config, and builds real
 * clients for it: pusher-js (Node build, ws transport only), the `pusher` server SDK, and raw
 * `ws` sockets for frames the clients hide.
 */
import Pusher from 'pusher';
import PusherJSModule from 'pusher-js';
import type * as PusherTypes from 'pusher-js/types/src/core/pusher.js';
type PusherJS = PusherTypes.default;
import WebSocket from 'ws';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { parseConfig, type HeraldConfig } from '../../src/config/config.js';
import { HeraldServer } from '../../src/server.js';
import { ONE_ADDRESS_MANY_USERS } from './limits.js';

/** pusher-js is CommonJS: the default import is the class at run time; its typings name it `default`. */
export const PusherClient = PusherJSModule as unknown as typeof PusherTypes.default;
export type { PusherJS };

export const APP = { id: 'test-app', key: 'test-key', secret: 'test-secret-xxxx' } as const;

export interface TestServer {
  readonly server: HeraldServer;
  readonly port: number;
  readonly config: HeraldConfig;
  /** A pusher-js client for `key` (default the test app) that only uses the ws transport. */
  client(options?: Record<string, unknown>, key?: string): PusherJS;
  /** The official server SDK for the test app (or another app from the config). */
  sdk(app?: { id: string; key: string; secret: string }): Pusher;
  /** A raw WebSocket to `path` (default the test app's Pusher path). */
  raw(path?: string): WebSocket;
  close(): Promise<void>;
}

export type ConfigInput = Record<string, unknown>;

export { ONE_ADDRESS_MANY_USERS };

const clients: PusherJS[] = [];
const raws: WebSocket[] = [];

export async function startServer(raw: ConfigInput = {}, now?: () => number): Promise<TestServer> {
  // Each server gets its own state dir (usage file) unless the test names one, and removes it on close.
  const ownStateDir = raw.stateDir === undefined ? mkdtempSync(join(tmpdir(), 'herald-test-')) : undefined;
  const input = {
    port: 0,
    stateDir: ownStateDir,
    metricsEnabled: false,
    logLevel: 'silent',
    apps: [{ ...APP, enableClientEvents: true }],
    ...ONE_ADDRESS_MANY_USERS,
    ...raw,
  };
  const config = parseConfig(input, 'test config');
  const logger = pino({ level: 'silent' });
  const server = await HeraldServer.start({ config, logger, now });
  const port = server.port;
  return {
    server,
    port,
    config,
    client(options = {}, key = APP.key) {
      const c = new PusherClient(key, {
        cluster: 'mt1',
        wsHost: '127.0.0.1',
        wsPort: port,
        wssPort: port,
        forceTLS: false,
        enabledTransports: ['ws'],
        enableStats: false,
        ...options,
      });
      clients.push(c);
      return c;
    },
    sdk(app = APP) {
      return new Pusher({ appId: app.id, key: app.key, secret: app.secret, host: '127.0.0.1', port: String(port), useTLS: false });
    },
    raw(path = `/app/${APP.key}?protocol=7&client=js&version=8.6.0&flash=false`) {
      const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
      raws.push(ws);
      return ws;
    },
    async close() {
      for (const c of clients.splice(0)) c.disconnect();
      for (const w of raws.splice(0)) w.terminate();
      await server.stop();
      if (ownStateDir !== undefined) rmSync(ownStateDir, { recursive: true, force: true });
    },
  };
}

/** Resolves with the first value `bind` delivers, or rejects after `ms`. */
export function once<T = unknown>(bind: (cb: (value: T) => void) => void, what: string, ms = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    bind((value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

export function connected(client: PusherJS): Promise<string> {
  if (client.connection.state === 'connected') return Promise.resolve(client.connection.socket_id);
  return once<string>((cb) => client.connection.bind('connected', () => cb(client.connection.socket_id)), 'pusher-js connected');
}

export function subscribed(client: PusherJS, channel: string): Promise<unknown> {
  const ch = client.subscribe(channel);
  return once((cb) => {
    ch.bind('pusher:subscription_succeeded', cb);
    ch.bind('pusher:subscription_error', (e: unknown) => cb(Promise.reject(new Error(`subscription_error ${JSON.stringify(e)}`))));
  }, `subscription to ${channel}`).then((v) => v);
}

/** A raw socket's frames, parsed, as an async queue. */
export class FrameReader {
  readonly frames: Array<Record<string, unknown>> = [];
  #waiters: Array<() => void> = [];
  closed: { code: number; reason: string } | undefined;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (m) => {
      this.frames.push(JSON.parse(m.toString()) as Record<string, unknown>);
      this.#wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.#wake();
    });
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** The next frame matching `pred` (consumed), waiting up to `ms`. */
  async next(pred: (f: Record<string, unknown>) => boolean = () => true, ms = 5000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.frames.findIndex(pred);
      if (i >= 0) return this.frames.splice(i, 1)[0] as Record<string, unknown>;
      if (this.closed) throw new Error(`socket closed (${this.closed.code}) before the expected frame`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; frames so far: ${JSON.stringify(this.frames)}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  event(name: string, ms?: number): Promise<Record<string, unknown>> {
    return this.next((f) => f.event === name, ms);
  }

  async waitClose(ms = 5000): Promise<{ code: number; reason: string }> {
    if (this.closed) return this.closed;
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('timed out waiting for close')), ms);
      this.ws.once('close', () => {
        clearTimeout(t);
        resolve();
      });
    });
    return this.closed as unknown as { code: number; reason: string };
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }
}

/** Opens a raw socket and waits for connection_established; returns the reader and socket_id. */
export async function rawConnect(t: TestServer, path?: string): Promise<{ reader: FrameReader; socketId: string }> {
  const reader = new FrameReader(t.raw(path));
  const est = await reader.event('pusher:connection_established');
  const data = JSON.parse(est.data as string) as { socket_id: string };
  return { reader, socketId: data.socket_id };
}
