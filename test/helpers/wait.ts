/**
 * The one polling wait the tests share, for conditions nothing signals: another process's state
 * (Redis, a Herald child, a file it flushes), or messages between cluster nodes. Where an event
 * says it (a frame, a log line, a webhook request), tests await that event instead.
 */

/**
 * Resolves once `pred` holds, checking every `everyMs`; rejects naming `what` (a function is
 * asked at the timeout, so it can tell the last thing seen) after `ms`. An error from `pred`
 * rejects at once.
 */
export async function waitFor(pred: () => boolean | Promise<boolean>, what: string | (() => string), ms = 8000, everyMs = 20): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
