/**
 * The one shape for an answer that can fail without throwing: parsers of outside input,
 * signature checks and subscription rules return it, so a caller reads every failure the same
 * way and nothing has to be caught.
 */
export type Result<T, E = string> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: E };

export function ok<T>(value: T): { readonly ok: true; readonly value: T } {
  return { ok: true, value };
}

export function fail<E>(error: E): { readonly ok: false; readonly error: E } {
  return { ok: false, error };
}
