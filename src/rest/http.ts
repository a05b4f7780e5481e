/**
 * The transport-free shape of an HTTP exchange, and the error every REST handler raises.
 * Pusher's error bodies are plain text saying what was wrong (protocol §7.2).
 */
export interface HttpRequest {
  readonly method: string;
  /** Path without the query string, as sent (not decoded). */
  readonly path: string;
  readonly rawQuery: string;
  readonly body: Buffer;
}

export interface HttpResponse {
  status: number;
  body: string;
  contentType: 'application/json' | 'text/plain';
  headers: Record<string, string>;
}

/**
 * Every HTTP status Herald answers with (protocol §7.2 and the health routes), with its reason
 * phrase. Handlers name entries; no bare status literal lives elsewhere in src/rest, src/ops.
 */
export const Status = Object.freeze({
  OK: 200,
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  PAYLOAD_TOO_LARGE: 413,
  TOO_MANY_REQUESTS: 429,
  INTERNAL_ERROR: 500,
  UNAVAILABLE: 503,
});

export const STATUS_TEXT: Readonly<Record<number, string>> = Object.freeze({
  [Status.OK]: 'OK',
  [Status.BAD_REQUEST]: 'Bad Request',
  [Status.UNAUTHORIZED]: 'Unauthorized',
  [Status.FORBIDDEN]: 'Forbidden',
  [Status.NOT_FOUND]: 'Not Found',
  [Status.METHOD_NOT_ALLOWED]: 'Method Not Allowed',
  [Status.PAYLOAD_TOO_LARGE]: 'Payload Too Large',
  [Status.TOO_MANY_REQUESTS]: 'Too Many Requests',
  [Status.INTERNAL_ERROR]: 'Internal Server Error',
  [Status.UNAVAILABLE]: 'Service Unavailable',
});

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export function json(value: unknown, status: number = Status.OK): HttpResponse {
  return { status, body: JSON.stringify(value), contentType: 'application/json', headers: {} };
}

export function text(status: number, body: string, headers: Record<string, string> = {}): HttpResponse {
  return { status, body: body.endsWith('\n') ? body : `${body}\n`, contentType: 'text/plain', headers };
}

import { jsonTooDeep, tooDeepMessage } from '../wire/json-depth.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses a JSON object body; non-UTF-8 and invalid JSON are 400s (protocol §7.1 notes). */
export function jsonBody(body: Buffer): Record<string, unknown> {
  let textBody: string;
  try {
    textBody = utf8.decode(body);
  } catch {
    throw new HttpError(Status.BAD_REQUEST, 'Request body is not valid UTF-8');
  }
  if (jsonTooDeep(textBody)) throw new HttpError(Status.BAD_REQUEST, tooDeepMessage('Request body'));
  let value: unknown;
  try {
    value = JSON.parse(textBody);
  } catch {
    throw new HttpError(Status.BAD_REQUEST, 'Request body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new HttpError(Status.BAD_REQUEST, 'Request body must be a JSON object');
  }
  return value as Record<string, unknown>;
}
