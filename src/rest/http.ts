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

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export function json(value: unknown, status = 200): HttpResponse {
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
    throw new HttpError(400, 'Request body is not valid UTF-8');
  }
  if (jsonTooDeep(textBody)) throw new HttpError(400, tooDeepMessage('Request body'));
  let value: unknown;
  try {
    value = JSON.parse(textBody);
  } catch {
    throw new HttpError(400, 'Request body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new HttpError(400, 'Request body must be a JSON object');
  }
  return value as Record<string, unknown>;
}
