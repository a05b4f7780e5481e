/**
 * One webhook HTTP request and the retry schedule (protocol §9): any 2xx is success; anything
 * else — another status, a network error, the per-request timeout — is retried with
 * exponential back-off until the retry window closes. Redirects are not followed (a 3xx is a
 * failure, as at Pusher).
 */

export type WebhookOutcome = 'success' | 'http_error' | 'timeout' | 'network_error';

export interface PostResult {
  readonly outcome: WebhookOutcome;
  /** HTTP status, when a response arrived. */
  readonly status?: number;
  /** What went wrong, for logs (never includes headers or the body). */
  readonly problem?: string;
}

/** The longest wait between two attempts of one delivery. */
export const MAX_BACKOFF_MS = 60_000;

/** Wait before the next attempt after `attempts` failed ones: initial, 2×, 4×, … capped. */
export function backoffMs(attempts: number, initialMs: number): number {
  return Math.min(initialMs * 2 ** Math.max(0, attempts - 1), Math.max(initialMs, MAX_BACKOFF_MS));
}

/**
 * When the next attempt should start, or undefined when the delivery has run out of time. A
 * delivery whose back-off would overshoot its window gets one last attempt at the window's end.
 */
export function nextAttemptAt(nowMs: number, createdAtMs: number, attempts: number, initialMs: number, windowMs: number): number | undefined {
  const deadline = createdAtMs + windowMs;
  if (nowMs >= deadline) return undefined;
  return Math.min(nowMs + backoffMs(attempts, initialMs), deadline);
}

/**
 * A webhook URL as it may appear in a log line: scheme, host and port only. Paths, queries
 * and user info often carry tokens (`/hooks/T0K3N`, `?key=…`), so they are never logged.
 */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    const hidden = u.pathname !== '/' || u.search !== '' || u.username !== '' ? '/…' : '';
    return `${u.protocol}//${u.host}${hidden}`;
  } catch {
    return '(invalid URL)';
  }
}

/** POSTs `body` once; never throws. The response body is discarded unread. */
export async function postWebhook(url: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<PostResult> {
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
    if (e.name === 'TimeoutError' || e.name === 'AbortError') return { outcome: 'timeout', problem: `no response within ${timeoutMs} ms` };
    return { outcome: 'network_error', problem: e.cause?.code ?? e.cause?.message ?? e.message ?? String(err) };
  }
  try {
    await res.body?.cancel();
  } catch (err) {
    // The status already decides the outcome; a body that fails to close only costs the socket.
    return classify(res.status, `response body not closed: ${(err as Error).message}`);
  }
  return classify(res.status);
}

function classify(status: number, problem?: string): PostResult {
  if (status >= 200 && status < 300) return { outcome: 'success', status };
  return { outcome: 'http_error', status, problem: problem ?? `HTTP ${status}` };
}
