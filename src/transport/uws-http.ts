/**
 * HTTP on the uWS app: every request goes to one handler (REST API, health routes). A request
 * is refused from its method, path and query before any body is read where it can be
 * (unknown route or app, stale credentials, a Content-Length over the limit); otherwise the
 * body is buffered up to maxRequestBodyBytes and handed over whole. uWS rules followed here:
 * onAborted before async work, copy onData chunks, cork writes made after an await, and no
 * exception ever escapes a callback (it would end the process): a fault answers 500.
 */
import type * as UwsTypes from 'uWebSockets.js';
import { Status, STATUS_TEXT, type HttpRequest, type HttpResponse } from '../rest/http.js';

export interface HttpHandler {
  /** Answers a request from its method, path and query alone when that decides it, else undefined. */
  precheck(method: string, path: string, rawQuery: string): HttpResponse | undefined;
  handle(req: HttpRequest): HttpResponse | Promise<HttpResponse>;
}

/**
 * Told of an exception that escaped into a uWS callback (and was stopped there): `callback`
 * names it (upgrade, open, message, pong, close, http, data), `context` says where.
 */
export type FaultReporter = (callback: string, err: unknown, context: Record<string, unknown>) => void;

const INTERNAL_ERROR: HttpResponse = { status: Status.INTERNAL_ERROR, contentType: 'text/plain', headers: {}, body: 'Internal server error\n' };

export class UwsHttp {
  constructor(
    readonly handler: HttpHandler,
    readonly maxBodyBytes: number,
    readonly fault: FaultReporter,
  ) {}

  /** The uWS `any` route. */
  route(res: UwsTypes.HttpResponse, req: UwsTypes.HttpRequest): void {
    try {
      this.#request(res, req);
    } catch (err) {
      this.answerFault('http', err, res, { path: req.getUrl().slice(0, 64) });
    }
  }

  /** Reports a callback's fault and answers 500 when the response is still open. */
  answerFault(name: string, err: unknown, res: UwsTypes.HttpResponse, context: Record<string, unknown>): void {
    this.fault(name, err, context);
    try {
      reply(res, INTERNAL_ERROR, true);
    } catch {
      // The response was already answered or aborted: nothing more can be sent on it.
    }
  }

  #request(res: UwsTypes.HttpResponse, req: UwsTypes.HttpRequest): void {
    const method = req.getMethod().toUpperCase();
    const path = req.getUrl();
    const rawQuery = req.getQuery() ?? '';
    const limit = this.maxBodyBytes;
    const context = { method, path: path.slice(0, 64) };
    let aborted = false;
    let done = false;
    res.onAborted(() => {
      aborted = true;
    });
    const early = this.handler.precheck(method, path, rawQuery) ?? declaredTooLarge(req.getHeader('content-length'), limit);
    if (early !== undefined) {
      done = true;
      reply(res, early, method !== 'GET' && method !== 'HEAD'); // an unread body: close after the answer
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
          reply(res, tooLarge(limit), true);
          return;
        }
        chunks.push(Buffer.from(chunk.slice(0)));
        if (!isLast) return;
        done = true;
        const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
        this.#dispatch(res, { method, path, rawQuery, body }, () => aborted);
      } catch (err) {
        done = true;
        if (!aborted) this.answerFault('data', err, res, context);
        else this.fault('data', err, context);
      }
    });
  }

  /** Runs the handler and answers; a handler that throws or rejects answers 500. */
  #dispatch(res: UwsTypes.HttpResponse, request: HttpRequest, aborted: () => boolean): void {
    const context = { method: request.method, path: request.path.slice(0, 64) };
    let result: HttpResponse | Promise<HttpResponse>;
    try {
      result = this.handler.handle(request);
    } catch (err) {
      this.fault('http', err, context);
      result = INTERNAL_ERROR;
    }
    if (!(result instanceof Promise)) {
      reply(res, result, false);
      return;
    }
    result.then(
      (r) => {
        try {
          if (!aborted()) reply(res, r, false);
        } catch (err) {
          this.fault('http', err, context);
        }
      },
      (err: unknown) => {
        if (aborted()) this.fault('http', err, context);
        else this.answerFault('http', err, res, context);
      },
    );
  }
}

function tooLarge(limit: number): HttpResponse {
  return { status: Status.PAYLOAD_TOO_LARGE, contentType: 'text/plain', headers: {}, body: `Request body exceeds ${limit} bytes\n` };
}

/** A Content-Length over the limit is refused before any of the body arrives. */
function declaredTooLarge(contentLength: string, limit: number): HttpResponse | undefined {
  return /^\d+$/.test(contentLength) && Number(contentLength) > limit ? tooLarge(limit) : undefined;
}

function reply(res: UwsTypes.HttpResponse, r: HttpResponse, close: boolean): void {
  res.cork(() => {
    res.writeStatus(`${r.status} ${STATUS_TEXT[r.status] ?? ''}`);
    res.writeHeader('Content-Type', r.contentType);
    for (const [k, v] of Object.entries(r.headers)) res.writeHeader(k, v);
    res.end(r.body, close);
  });
}
