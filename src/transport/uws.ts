/**
 * The only importer of uWebSockets.js. Loads the native build (refusing the slow pure-JS
 * fallback unless allowed), upgrades /app/{key} WebSockets into core connections, and binds
 * HTTP requests to the REST API and health routes. uWS rules followed here: copy request data
 * before any await, register onAborted before async work, cork writes, copy onData chunks.
 */
import { createRequire } from 'node:module';
import type * as UwsTypes from 'uWebSockets.js';
import { mapMaybe, type Maybe } from '../adapter/maybe.js';
import type { App, AppRegistry } from '../apps/registry.js';
import type { Connection } from '../connection/connection.js';
import type { Core } from '../connection/core.js';
import type { SocketPort, TopicHub } from '../connection/ports.js';
import type { Logger } from '../log.js';
import { addressKey, clientAddress, trustedProxyList } from '../quota/per-address.js';
import { Status, STATUS_TEXT, type HttpRequest, type HttpResponse } from '../rest/http.js';
import { Codes, type PusherCode } from '../wire/codes.js';
import { errorFrame } from '../wire/frames.js';

type Uws = typeof UwsTypes;

export class NativeUwsUnavailable extends Error {}

/**
 * Loads uWebSockets.js and checks that the native binary loaded. The npm build silently
 * falls back to a pure-JS server when the binary does not load; that fallback is refused
 * unless `allowFallback` is set.
 */
export function loadUws(allowFallback: boolean, logger: Logger): Uws {
  const require = createRequire(import.meta.url);
  const uws = require('uWebSockets.js') as Uws & { getParts?: unknown };
  const native = typeof uws.getParts === 'function' && /\[native code\]/.test(String(uws.App));
  if (!native) {
    const message =
      'uWebSockets.js native binary did not load for this platform/Node version; only the slow pure-JS fallback is available';
    if (!allowFallback) {
      throw new NativeUwsUnavailable(
        `${message}. Refusing to start. Use Node 20 on Linux x64 (or set allowUwsFallback: true / HERALD_ALLOW_UWS_FALLBACK=1 to run slowly anyway).`,
      );
    }
    logger.warn('%s; running on it because allowUwsFallback is set. Performance will be poor.', message);
  }
  return uws;
}

interface WsData {
  readonly path: string;
  readonly query: string;
  /** The client's address key (quota/per-address.ts). */
  readonly address: string;
  conn: Connection | undefined;
  closed: boolean;
}

export interface HttpHandler {
  /**
   * Answers a request from its method, path and query alone when it can be refused before its
   * body is read (unknown route or app, stale credentials), else undefined.
   */
  precheck(method: string, path: string, rawQuery: string): HttpResponse | undefined;
  handle(req: HttpRequest): HttpResponse | Promise<HttpResponse>;
}

/**
 * Told of an exception that escaped into a uWS callback (and was stopped there): `callback`
 * names it (open, message, close, pong, upgrade, http, data, aborted), `context` says where.
 */
export type FaultReporter = (callback: string, err: unknown, context: Record<string, unknown>) => void;

export interface TransportOptions {
  readonly host: string;
  readonly port: number;
  readonly maxFrameBytes: number;
  readonly maxRequestBodyBytes: number;
  readonly maxBackpressureBytes: number;
  readonly trustedProxies: readonly string[];
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
}


/** The Pusher path: an optional prefix (pusher-js wsPath), then /app/{key}. */
const APP_PATH = /^(?:\/[^?]*)?\/app\/([^/?]+)\/?$/;
const VERSION = /^\d+(\.\d+){0,3}([-+.][0-9A-Za-z.-]+)?$/;
const MIN_PROTOCOL = 4;
const MAX_PROTOCOL = 7;

/** Decides the close code for an upgrade request before the app is consulted (§1.1, §3.1). */
export function checkHandshake(path: string, query: URLSearchParams): PusherCode | string {
  const m = APP_PATH.exec(path);
  if (m === null) return Codes.PATH_NOT_FOUND;
  const protocol = query.get('protocol');
  if (protocol === null || protocol === '') return Codes.NO_PROTOCOL;
  const n = /^\d+$/.test(protocol) ? Number(protocol) : NaN;
  if (!(n >= MIN_PROTOCOL && n <= MAX_PROTOCOL)) return Codes.UNSUPPORTED_PROTOCOL;
  const version = query.get('version');
  if (version !== null && !VERSION.test(version)) return Codes.INVALID_VERSION;
  try {
    return decodeURIComponent(m[1] ?? '');
  } catch {
    return Codes.APP_NOT_FOUND; // a key that is not valid percent-encoding names no app
  }
}

const INTERNAL_ERROR_RESPONSE: HttpResponse = { status: Status.INTERNAL_ERROR, contentType: 'text/plain', headers: {}, body: 'Internal server error\n' };

export class UwsTransport implements TopicHub {
  readonly #app: UwsTypes.TemplatedApp;
  #listenSocket: UwsTypes.us_listen_socket | undefined;
  readonly #decoder = new TextDecoder();
  readonly #proxies: ReturnType<typeof trustedProxyList>;

  constructor(
    readonly uws: Uws,
    readonly options: TransportOptions,
    readonly core: Core,
    readonly apps: AppRegistry,
    readonly http: HttpHandler,
    readonly logger: Logger,
    readonly fault: FaultReporter,
  ) {
    this.#proxies = trustedProxyList(options.trustedProxies);
    this.#app = options.tls
      ? uws.SSLApp({ cert_file_name: options.tls.certFile, key_file_name: options.tls.keyFile })
      : uws.App();
    this.#bindWebSocket();
    this.#app.any('/*', (res, req) => {
      try {
        this.#onHttp(res, req);
      } catch (err) {
        this.#httpFault('http', err, res, { path: req.getUrl().slice(0, 64) });
      }
    });
  }

  /**
   * The edge catches everything (design rule 16): a WebSocket callback's fault is reported and
   * ends that one connection with 1011; nothing escapes into uWS, which would end the process.
   */
  #guardWs<A extends unknown[]>(name: string, run: (ws: UwsTypes.WebSocket<WsData>, ...args: A) => void) {
    return (ws: UwsTypes.WebSocket<WsData>, ...args: A): void => {
      try {
        run(ws, ...args);
      } catch (err) {
        const data = ws.getUserData();
        this.fault(name, err, { socket: data.conn?.socketId, app: data.conn?.app.id });
        if (data.closed) return;
        try {
          ws.end(Codes.INTERNAL_ERROR.code, Codes.INTERNAL_ERROR.message);
        } catch (endErr) {
          this.fault(`${name}.end`, endErr, { socket: data.conn?.socketId });
        }
      }
    };
  }

  /** Reports an HTTP callback's fault and answers 500 when the response is still open. */
  #httpFault(name: string, err: unknown, res: UwsTypes.HttpResponse, context: Record<string, unknown>): void {
    this.fault(name, err, context);
    try {
      this.#reply(res, INTERNAL_ERROR_RESPONSE, true);
    } catch {
      // The response was already answered or aborted: nothing more can be sent on it.
    }
  }

  publish(topic: string, frame: string): void {
    this.#app.publish(topic, frame, false, false);
  }

  listen(): Promise<number> {
    const { host, port } = this.options;
    return new Promise((resolve, reject) => {
      this.#app.listen(host, port, (token) => {
        if (!token) return reject(new Error(`Cannot listen on ${host}:${port} (address in use or not permitted)`));
        this.#listenSocket = token;
        resolve(this.uws.us_socket_local_port(token));
      });
    });
  }

  /** Stops accepting new TCP connections; existing ones are closed by the core. */
  stopListening(): void {
    if (this.#listenSocket !== undefined) this.uws.us_listen_socket_close(this.#listenSocket);
    this.#listenSocket = undefined;
  }

  #bindWebSocket(): void {
    const core = this.core;
    this.#app.ws<WsData>('/*', {
      compression: this.uws.DISABLED,
      maxPayloadLength: this.options.maxFrameBytes,
      maxBackpressure: this.options.maxBackpressureBytes,
      closeOnBackpressureLimit: true as unknown as number,
      idleTimeout: 0,
      sendPingsAutomatically: false,
      upgrade: (res, req, context) => {
        try {
          const peer = Buffer.from(res.getRemoteAddressAsText()).toString();
          const address = addressKey(clientAddress(peer, req.getHeader('x-forwarded-for'), this.#proxies));
          const data: WsData = { path: req.getUrl(), query: req.getQuery() ?? '', address, conn: undefined, closed: false };
          res.upgrade(
            data,
            req.getHeader('sec-websocket-key'),
            req.getHeader('sec-websocket-protocol'),
            req.getHeader('sec-websocket-extensions'),
            context,
          );
        } catch (err) {
          this.#httpFault('upgrade', err, res, {});
        }
      },
      open: this.#guardWs('open', (ws) => {
        const data = ws.getUserData();
        const admitted = this.#admit(data);
        if (admitted instanceof Promise) {
          admitted.then(
            this.#guardWs('open', (w, verdict: [PusherCode, string] | App) => {
              if (data.closed) this.#opened(w, data, verdict);
              else w.cork(() => this.#opened(w, data, verdict));
            }).bind(null, ws),
            this.#guardWs('open', (w, err: unknown) => {
              this.logger.error({ err }, 'connection admission failed');
              if (!data.closed) w.end(Codes.OVER_CAPACITY.code, Codes.OVER_CAPACITY.message);
            }).bind(null, ws),
          );
        } else {
          this.#opened(ws, data, admitted);
        }
      }),
      message: this.#guardWs('message', (ws, message: ArrayBuffer, isBinary: boolean) => {
        const conn = ws.getUserData().conn;
        if (conn === undefined) return;
        if (isBinary) {
          ws.send(errorFrame(null, 'Binary frames are not supported; send JSON text frames'), false);
          return;
        }
        core.message(conn, this.#decoder.decode(message));
      }),
      pong: this.#guardWs('pong', (ws) => {
        const conn = ws.getUserData().conn;
        if (conn !== undefined) core.activity(conn);
      }),
      close: this.#guardWs('close', (ws, code: number) => {
        const data = ws.getUserData();
        data.closed = true;
        if (data.conn !== undefined) core.closed(data.conn, code);
      }),
    });
  }

  /** Opens the core connection once admitted, or refuses it with its code (pusher:error, then close). */
  #opened(ws: UwsTypes.WebSocket<WsData>, data: WsData, verdict: [PusherCode, string] | App): void {
    if (data.closed) {
      if (!Array.isArray(verdict)) this.core.release(verdict, data.address);
      return;
    }
    if (Array.isArray(verdict)) {
      const [code, detail] = verdict;
      ws.send(errorFrame(code, detail), false);
      ws.end(code.code, closeReason(detail));
      return;
    }
    try {
      data.conn = this.core.open(verdict, new UwsSocketPort(ws, data), data.address);
    } catch (err) {
      this.core.release(verdict, data.address); // the reserved slot is not lost with the socket
      throw err;
    }
  }

  /** Decides on an upgraded socket: the app to open it for, or the code and message to refuse it with. */
  #admit(data: WsData): Maybe<[PusherCode, string] | App> {
    const checked = checkHandshake(data.path, new URLSearchParams(data.query));
    if (typeof checked !== 'string') return [checked, `${checked.message}: ${data.path.slice(0, 64)}`];
    const app = this.apps.byKey(checked);
    if (app === undefined) return [Codes.APP_NOT_FOUND, `${Codes.APP_NOT_FOUND.message}: no app with key "${checked.slice(0, 64)}"`];
    return mapMaybe(this.core.admit(app, data.address), (refused) => (refused !== undefined ? [refused, refused.message] : app));
  }

  /**
   * One HTTP request. It is refused from its method, path and query before any body is read
   * where it can be (unknown route or app, stale credentials, a Content-Length over the
   * limit); otherwise the body is buffered up to maxRequestBodyBytes and handed over whole.
   */
  #onHttp(res: UwsTypes.HttpResponse, req: UwsTypes.HttpRequest): void {
    const method = req.getMethod().toUpperCase();
    const path = req.getUrl();
    const rawQuery = req.getQuery() ?? '';
    const limit = this.options.maxRequestBodyBytes;
    const context = { method, path: path.slice(0, 64) };
    let aborted = false;
    let done = false;
    res.onAborted(() => {
      aborted = true;
    });
    const early = this.http.precheck(method, path, rawQuery) ?? this.#declaredTooLarge(req.getHeader('content-length'), limit);
    if (early !== undefined) {
      done = true;
      this.#reply(res, early, method !== 'GET' && method !== 'HEAD');
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    res.onData((chunk, isLast) => {
      if (done || aborted) return;
      try {
        size += chunk.byteLength;
        if (size > limit) {
          done = true;
          this.#reply(res, this.#tooLarge(limit), true);
          return;
        }
        chunks.push(Buffer.from(chunk.slice(0)));
        if (!isLast) return;
        done = true;
        const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
        this.#dispatch(res, { method, path, rawQuery, body }, () => aborted);
      } catch (err) {
        done = true;
        if (!aborted) this.#httpFault('data', err, res, context);
        else this.fault('data', err, context);
      }
    });
  }

  #tooLarge(limit: number): HttpResponse {
    return { status: Status.PAYLOAD_TOO_LARGE, contentType: 'text/plain', headers: {}, body: `Request body exceeds ${limit} bytes\n` };
  }

  /** A Content-Length over the limit is refused before any of the body arrives. */
  #declaredTooLarge(contentLength: string, limit: number): HttpResponse | undefined {
    return /^\d+$/.test(contentLength) && Number(contentLength) > limit ? this.#tooLarge(limit) : undefined;
  }

  /** Runs the handler and answers; a handler that throws or rejects answers 500. */
  #dispatch(res: UwsTypes.HttpResponse, request: HttpRequest, aborted: () => boolean): void {
    const context = { method: request.method, path: request.path.slice(0, 64) };
    let result: HttpResponse | Promise<HttpResponse>;
    try {
      result = this.http.handle(request);
    } catch (err) {
      this.fault('http', err, context);
      result = INTERNAL_ERROR_RESPONSE;
    }
    if (!(result instanceof Promise)) {
      this.#reply(res, result, false);
      return;
    }
    result.then(
      (r) => {
        try {
          if (!aborted()) this.#reply(res, r, false);
        } catch (err) {
          this.fault('http', err, context);
        }
      },
      (err: unknown) => {
        if (aborted()) this.fault('http', err, context);
        else this.#httpFault('http', err, res, context);
      },
    );
  }

  #reply(res: UwsTypes.HttpResponse, r: HttpResponse, close: boolean): void {
    res.cork(() => {
      res.writeStatus(`${r.status} ${STATUS_TEXT[r.status] ?? ''}`);
      res.writeHeader('Content-Type', r.contentType);
      for (const [k, v] of Object.entries(r.headers)) res.writeHeader(k, v);
      res.end(r.body, close);
    });
  }
}

/** WebSocket close reasons are limited to 123 bytes. */
function closeReason(message: string): string {
  const buf = Buffer.from(message, 'utf8');
  return buf.length <= 123 ? message : buf.subarray(0, 120).toString('utf8').replace(/\uFFFD$/, '');
}

/**
 * Adapts one uWS WebSocket to the core's socket port. Calls after close are ignored. A class
 * (methods on the prototype) rather than closures keeps per-connection memory small.
 */
export class UwsSocketPort implements SocketPort {
  constructor(
    readonly ws: UwsTypes.WebSocket<WsData>,
    readonly data: WsData,
  ) {}

  send(frame: string): boolean {
    return !this.data.closed && this.ws.send(frame, false) !== 2;
  }

  close(code: number, reason: string): void {
    if (!this.data.closed) this.ws.end(code, closeReason(reason));
  }

  subscribe(topic: string): void {
    if (!this.data.closed) this.ws.subscribe(topic);
  }

  unsubscribe(topic: string): void {
    if (!this.data.closed) this.ws.unsubscribe(topic);
  }

  publishFromSelf(topic: string, frame: string): void {
    if (!this.data.closed) this.ws.publish(topic, frame, false, false);
  }
}
