/**
 * The metrics port (default 127.0.0.1:9601), separate from the client port so it can stay
 * private: GET /metrics in Prometheus text format, plus the same /health and /ready answers
 * as the main port (probes keep working while the main port drains or speaks TLS). Uses
 * node:http: scrapes are rare and off the hot path.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import { Status, type HttpRequest, type HttpResponse } from '../rest/http.js';
import type { HeraldMetrics } from './metrics.js';

export class MetricsServer {
  readonly #server: Server;
  port = 0;

  constructor(
    readonly metrics: HeraldMetrics,
    readonly health: (req: HttpRequest) => HttpResponse | undefined,
    readonly logger: Logger,
  ) {
    this.#server = createServer((req, res) => this.#handle(req, res));
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(new Error(`Cannot listen for metrics on ${host}:${port}: ${err.message}`));
      this.#server.once('error', onError);
      this.#server.listen(port, host, () => {
        this.#server.off('error', onError);
        this.port = (this.#server.address() as AddressInfo).port;
        resolve(this.port);
      });
    });
  }

  /** Stops listening and drops idle keep-alive connections (scrapers reconnect). */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeIdleConnections();
    });
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const method = req.method ?? 'GET';
    if (method === 'GET' && path === '/metrics') {
      this.metrics.metrics().then(
        (body) => {
          res.writeHead(200, { 'Content-Type': this.metrics.contentType });
          res.end(body);
        },
        (err: unknown) => {
          this.logger.error({ err }, 'metrics collection failed');
          res.writeHead(500, { 'Content-Type': 'text/plain' });
          res.end('metrics collection failed\n');
        },
      );
      return;
    }
    const answer = this.health({ method, path, rawQuery: '', body: Buffer.alloc(0) }) ?? {
      status: Status.NOT_FOUND,
      contentType: 'text/plain',
      headers: {},
      body: 'Not found: the metrics port serves GET /metrics, /health and /ready\n',
    };
    res.writeHead(answer.status, { 'Content-Type': answer.contentType, ...answer.headers });
    res.end(answer.body);
  }
}
