/**
 * The WebSocket transport on uWebSockets.js (with uws-load.ts and uws-http.ts the only
 * importers of it): finds the app key in `/app/{key}` and the client's address, hands both
 * with the query and a socket port to the core's ConnectionEntry, and reports frames, pongs
 * and closes. Every handshake rule lives in the core. It is also the core's topic hub (one
 * uWS topic per app and channel) and serves HTTP through uws-http.ts.
 */
import type * as UwsTypes from 'uWebSockets.js';
import type { Connection } from '../connection/connection.js';
import type { ConnectionEntry } from '../connection/core.js';
import type { SocketPort, TopicHub } from '../connection/ports.js';
import { addressKey, clientAddress, trustedProxyList } from '../quota/per-address.js';
import { Codes } from '../wire/codes.js';
import { errorFrame } from '../wire/frames.js';
import { UwsHttp, type FaultReporter, type HttpHandler } from './uws-http.js';
import type { Uws } from './uws-load.js';

export type { FaultReporter, HttpHandler } from './uws-http.js';

interface WsData {
  readonly path: string;
  readonly query: string;
  /** The client's address key (quota/per-address.ts). */
  readonly address: string;
  conn: Connection | undefined;
  closed: boolean;
}

export interface TransportOptions {
  readonly host: string;
  readonly port: number;
  readonly maxFrameBytes: number;
  readonly maxRequestBodyBytes: number;
  readonly maxBackpressureBytes: number;
  readonly trustedProxies: readonly string[];
  readonly tls?: { readonly certFile: string; readonly keyFile: string } | undefined;
}

/** The Pusher path: an optional prefix (pusher-js wsPath), then /app/{key}. */
const APP_PATH = /^(?:\/[^?]*)?\/app\/([^/?]+)\/?$/;

/** The app key in a WebSocket path, still percent-encoded; undefined when the path is not Pusher's. */
export function appKeyOf(path: string): string | undefined {
  return APP_PATH.exec(path)?.[1];
}

export class UwsTransport implements TopicHub {
  readonly #app: UwsTypes.TemplatedApp;
  #listenSocket: UwsTypes.us_listen_socket | undefined;
  readonly #decoder = new TextDecoder();
  readonly #proxies: ReturnType<typeof trustedProxyList>;

  constructor(
    readonly uws: Uws,
    readonly options: TransportOptions,
    readonly fault: FaultReporter,
  ) {
    this.#proxies = trustedProxyList(options.trustedProxies);
    this.#app = options.tls
      ? uws.SSLApp({ cert_file_name: options.tls.certFile, key_file_name: options.tls.keyFile })
      : uws.App();
  }

  publish(topic: string, frame: string): void {
    this.#app.publish(topic, frame, false, false);
  }

  /** Binds the core and the HTTP handler, then listens; resolves with the port. */
  listen(entry: ConnectionEntry, http: HttpHandler): Promise<number> {
    const httpRoutes = new UwsHttp(http, this.options.maxRequestBodyBytes, this.fault);
    this.#bindWebSocket(entry, httpRoutes);
    this.#app.any('/*', (res, req) => httpRoutes.route(res, req));
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

  /**
   * The edge catches everything (design rule 16): a WebSocket callback's fault is reported and
   * ends that one connection with 1011; nothing escapes into uWS, which would end the process.
   */
  #guard<A extends unknown[]>(name: string, run: (ws: UwsTypes.WebSocket<WsData>, ...args: A) => void) {
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

  #bindWebSocket(entry: ConnectionEntry, http: UwsHttp): void {
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
          res.upgrade(data, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
        } catch (err) {
          http.answerFault('upgrade', err, res, {});
        }
      },
      open: this.#guard('open', (ws) => {
        const data = ws.getUserData();
        const hs = { appKey: appKeyOf(data.path), query: data.query, address: data.address };
        data.conn = entry.connect(hs, new UwsSocketPort(ws, data));
      }),
      message: this.#guard('message', (ws, message: ArrayBuffer, isBinary: boolean) => {
        const conn = ws.getUserData().conn;
        if (conn === undefined) return;
        if (isBinary) {
          ws.send(errorFrame(null, 'Binary frames are not supported; send JSON text frames'), false);
          return;
        }
        entry.message(conn, this.#decoder.decode(message));
      }),
      pong: this.#guard('pong', (ws) => {
        const conn = ws.getUserData().conn;
        if (conn !== undefined) entry.activity(conn);
      }),
      close: this.#guard('close', (ws, code: number) => {
        const data = ws.getUserData();
        data.closed = true;
        if (data.conn !== undefined) entry.closed(data.conn, code);
      }),
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
