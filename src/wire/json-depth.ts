/**
 * Nesting depth of JSON text from clients and backends (issue 11, finding 2). V8 parses deep
 * JSON but `JSON.stringify` and every recursive walk of the result overflow the stack (a
 * RangeError that would escape a uWS callback), so frames, REST bodies, channel_data and
 * user_data deeper than MAX_JSON_DEPTH are refused before they are parsed. One pass over the
 * characters, no allocation.
 */

/** Arrays and objects may nest this deep; `{"a":[1]}` has depth 2. Documented in README § Security. */
export const MAX_JSON_DEPTH = 32;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/** True when `text` nests arrays/objects deeper than `max` (brackets inside strings do not count). */
export function jsonTooDeep(text: string, max: number = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > max) return true;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
    }
  }
  return false;
}

export function tooDeepMessage(what: string): string {
  return `${what} nests arrays/objects deeper than ${MAX_JSON_DEPTH} levels`;
}
