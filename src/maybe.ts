/**
 * Answers that may come now or later. The local cluster answers synchronously from this node's
 * state; the Redis cluster answers from shared state, so its answers may be promises. These
 * helpers keep the synchronous path free of promise ticks.
 */

export type Maybe<T> = T | Promise<T>;

/**
 * Runs `fn` on a value that may or may not be a promise, without an extra tick for plain
 * values. Later, `onError` gets a rejection and also whatever `fn` throws: an exception in a
 * promise callback would otherwise be an unhandled rejection, which ends the process.
 */
export function whenReady<T>(value: Maybe<T>, fn: (v: T) => void, onError: (err: unknown) => void): void {
  if (value instanceof Promise) value.then(fn).then(undefined, onError);
  else fn(value);
}

/** Applies `fn` to a value that may be a promise; stays synchronous for plain values. */
export function mapMaybe<T, U>(value: Maybe<T>, fn: (v: T) => U): Maybe<U> {
  return value instanceof Promise ? value.then(fn) : fn(value);
}

/** As `whenReady` for several values: synchronous when none of them is a promise; `onError` as there. */
export function whenAll<T extends readonly unknown[]>(
  values: T,
  fn: (v: { -readonly [K in keyof T]: Awaited<T[K]> }) => void,
  onError: (err: unknown) => void,
): void {
  if (values.some((v) => v instanceof Promise)) {
    Promise.all(values)
      .then((v) => fn(v as { -readonly [K in keyof T]: Awaited<T[K]> }))
      .then(undefined, onError);
  } else {
    fn(values as unknown as { -readonly [K in keyof T]: Awaited<T[K]> });
  }
}
