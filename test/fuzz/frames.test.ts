/**
 * Fuzzes the inbound wire layer: parseInbound and commandData (src/wire/frames.ts) and
 * jsonTooDeep (src/wire/json-depth.ts) with arbitrary strings, UTF-8-decoded random bytes,
 * stringified JSON values, frame-shaped objects and nesting up to 5000 levels.
 * Invariants:
 *  - neither function throws, on any input;
 *  - parseInbound answers {ok:true, frame:{event: non-empty string, channel: string|undefined}}
 *    or {ok:false, reason: non-empty string}, and agrees with a reference built on JSON.parse
 *    (accepted exactly when the text is a JSON object with a non-empty string event, an
 *    absent or string channel, nested at most MAX_JSON_DEPTH deep; same event/channel/data);
 *  - commandData returns undefined or a plain (non-array) object, the same object when given
 *    one, and the parsed object when given a JSON object string within the depth limit;
 *  - jsonTooDeep(text, max) === (reference depth > max) for every valid JSON text, and returns
 *    a boolean for any string and any max.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { commandData, parseInbound, type ParseResult } from '../../src/wire/frames.js';
import { jsonTooDeep, MAX_JSON_DEPTH } from '../../src/wire/json-depth.js';
import { check, timeout } from './runs.js';

/** Nesting depth of a parsed JSON value: arrays and objects count one level each, `{"a":[1]}` is 2. */
function depthOf(v: unknown): number {
  if (typeof v !== 'object' || v === null) return 0;
  let max = 0;
  for (const child of Array.isArray(v) ? v : Object.values(v)) max = Math.max(max, depthOf(child));
  return max + 1;
}

/** Nested JSON text, one wrapper per entry, outermost first: 'a' = array, 'o' = object, 's' = a string with brackets beside it. */
function nestedText(shape: readonly ('a' | 'o' | 's')[], leaf: string): string {
  let text = leaf;
  for (let i = shape.length - 1; i >= 0; i--) {
    const s = shape[i];
    text = s === 'a' ? `[${text}]` : s === 'o' ? `{"k\\"[{":${text}}` : `["[[{{\\\\",${text},"]]}"]`;
  }
  return text;
}

/** Real nesting of `nestedText(shape, leaf)` when leaf is a scalar. */
function shapeDepth(shape: readonly ('a' | 'o' | 's')[]): number {
  return shape.length;
}

function wellFormed(r: ParseResult): void {
  if (r.ok) {
    expect(typeof r.value.event).toBe('string');
    expect(r.value.event.length).toBeGreaterThan(0);
    expect(r.value.channel === undefined || typeof r.value.channel === 'string').toBe(true);
  } else {
    expect(typeof r.error).toBe('string');
    expect(r.error.length).toBeGreaterThan(0);
  }
}

/** What parseInbound must answer, from JSON.parse (only called on texts JSON.parse handles). */
function expectedParse(text: string): { ok: true; event: string; channel: string | undefined; data: unknown } | { ok: false } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { ok: false };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { ok: false };
  if (depthOf(v) > MAX_JSON_DEPTH) return { ok: false };
  const o = v as Record<string, unknown>;
  if (typeof o.event !== 'string' || o.event.length === 0) return { ok: false };
  if (o.channel !== undefined && typeof o.channel !== 'string') return { ok: false };
  return { ok: true, event: o.event, channel: o.channel, data: o.data };
}

function agreesWithReference(text: string): void {
  const r = parseInbound(text);
  wellFormed(r);
  const want = expectedParse(text);
  expect(r.ok).toBe(want.ok);
  if (r.ok && want.ok) {
    expect(r.value.event).toBe(want.event);
    expect(r.value.channel).toBe(want.channel);
    expect(r.value.data).toStrictEqual(want.data);
  }
}

const utf8 = new TextDecoder(); // non-fatal, as the transport decodes text frames
/** Nesting shapes 1…max deep (a short random pattern repeated), so deep cases are as likely as shallow ones. */
const shapeArb = (max: number): fc.Arbitrary<('a' | 'o' | 's')[]> =>
  fc
    .tuple(
      fc.oneof(fc.integer({ min: 1, max: Math.min(max, 64) }), fc.integer({ min: 1, max })),
      fc.array(fc.constantFrom('a' as const, 'o' as const, 's' as const), { minLength: 1, maxLength: 8 }),
    )
    .map(([n, pattern]) => Array.from({ length: n }, (_, i) => pattern[i % pattern.length] as 'a' | 'o' | 's'));
const deepLengthArb = fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 5000 }));
const eventArb = fc.oneof(
  fc.constantFrom('pusher:subscribe', 'pusher:ping', 'client-x', '', 'pusher:signin'),
  fc.string(),
  fc.jsonValue({ maxDepth: 2 }),
);
const frameObjectArb = fc.record(
  { event: eventArb, channel: fc.oneof(fc.string(), fc.jsonValue({ maxDepth: 2 })), data: fc.jsonValue(), extra: fc.jsonValue({ maxDepth: 2 }) },
  { requiredKeys: [] },
);

describe('parseInbound', () => {
  it('never throws and answers well-formed on arbitrary strings', () => {
    check(fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: 'binary-ascii' })), agreesWithReference));
  }, timeout());

  it('agrees with JSON.parse on stringified JSON values and frame-shaped objects', () => {
    check(
      fc.property(fc.oneof(fc.jsonValue(), frameObjectArb, fc.object()), fc.boolean(), (value, pretty) => {
        const text = JSON.stringify(value, null, pretty ? 2 : undefined);
        if (text === undefined) return; // undefined at top level (fc.object may hold it) is no text at all
        agreesWithReference(text);
      }),
    );
  }, timeout());

  it('never throws on random bytes decoded as UTF-8', () => {
    check(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, prefixed) => {
        const body = utf8.decode(bytes);
        agreesWithReference(prefixed ? `{"event":"x","data":"${body}"}` : body);
      }),
    );
  }, timeout());

  it('refuses frames nested deeper than MAX_JSON_DEPTH (up to 5000 levels) and accepts shallower ones', () => {
    check(
      fc.property(shapeArb(5000), fc.boolean(), fc.constantFrom('1', '"x"', 'null', '{}', '[]'), (shape, inData, leaf) => {
        const inner = nestedText(shape, leaf);
        const text = inData ? `{"event":"client-x","channel":"private-a","data":${inner}}` : inner;
        const r = parseInbound(text);
        wellFormed(r);
        const depth = shapeDepth(shape) + (leaf === '{}' || leaf === '[]' ? 1 : 0) + (inData ? 1 : 0);
        if (depth > MAX_JSON_DEPTH) expect(r.ok).toBe(false);
        else agreesWithReference(text);
      }),
      0.5,
    );
  }, timeout(0.5, 10));

  it('never throws on unbalanced and truncated nesting', () => {
    check(
      fc.property(deepLengthArb, fc.string({ unit: fc.constantFrom('[', ']', '{', '}', '"', '\\', ',', ':', '1') , maxLength: 80 }), (n, tail) => {
        for (const text of ['['.repeat(n), `${'{"a":'.repeat(n)}1`, `${'['.repeat(n)}${tail}`, `${']'.repeat(n)}${tail}`, `{"event":"x","data":${'['.repeat(n)}`]) {
          wellFormed(parseInbound(text));
        }
      }),
      0.5,
    );
  }, timeout(0.5, 10));
});

describe('commandData', () => {
  it('returns undefined or a plain object, never throws, for any value', () => {
    check(
      fc.property(fc.oneof(fc.jsonValue(), fc.anything(), fc.string()), (value) => {
        const out = commandData(value);
        if (out !== undefined) {
          expect(typeof out).toBe('object');
          expect(out).not.toBeNull();
          expect(Array.isArray(out)).toBe(false);
        }
        if (typeof value === 'object' && value !== null && !Array.isArray(value)) expect(out).toBe(value);
        if (typeof value !== 'object' && typeof value !== 'string') expect(out).toBeUndefined();
      }),
    );
  }, timeout());

  it('parses JSON strings as JSON.parse does, within the depth limit', () => {
    check(
      fc.property(fc.oneof(fc.jsonValue(), frameObjectArb), (value) => {
        const text = JSON.stringify(value);
        const out = commandData(text);
        const parsed: unknown = JSON.parse(text);
        const isObject = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed);
        if (isObject && depthOf(parsed) <= MAX_JSON_DEPTH) expect(out).toStrictEqual(parsed);
        else expect(out).toBeUndefined();
      }),
    );
  }, timeout());

  it('never throws on deep or broken JSON strings', () => {
    check(
      fc.property(deepLengthArb, fc.string(), (n, s) => {
        for (const text of [`${'{"a":'.repeat(n)}1${'}'.repeat(n)}`, `${'['.repeat(n)}${']'.repeat(n)}`, '['.repeat(n), s, `{${s}}`]) {
          const out = commandData(text);
          expect(out === undefined || (typeof out === 'object' && out !== null && !Array.isArray(out))).toBe(true);
          if (n > MAX_JSON_DEPTH && text.startsWith('{"a":')) expect(out).toBeUndefined();
        }
      }),
      0.5,
    );
  }, timeout(0.5, 10));
});

describe('jsonTooDeep', () => {
  it('agrees with the depth of the parsed value for every max, on valid JSON', () => {
    check(
      fc.property(fc.oneof(fc.jsonValue(), fc.jsonValue({ stringUnit: 'binary' }), frameObjectArb), fc.boolean(), (value, pretty) => {
        const text = JSON.stringify(value, null, pretty ? 1 : undefined);
        const depth = depthOf(JSON.parse(text));
        for (let max = 0; max <= depth + 1; max++) expect(jsonTooDeep(text, max)).toBe(depth > max);
        expect(jsonTooDeep(text)).toBe(depth > MAX_JSON_DEPTH);
      }),
    );
  }, timeout());

  it('agrees with the reference on deep nesting (brackets inside strings do not count)', () => {
    check(
      fc.property(shapeArb(600), fc.integer({ min: 0, max: 700 }), (shape, max) => {
        const text = nestedText(shape, '0');
        const depth = depthOf(JSON.parse(text));
        expect(depth).toBe(shapeDepth(shape));
        expect(jsonTooDeep(text, max)).toBe(depth > max);
      }),
      0.5,
    );
  }, timeout(0.5, 10));

  it('returns a boolean for any string and any max', () => {
    check(
      fc.property(
        fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: fc.constantFrom('[', ']', '{', '}', '"', '\\', 'a') })),
        fc.oneof(fc.integer(), fc.double(), fc.constantFrom(Number.NaN, Infinity, -Infinity, -1, 0)),
        (text, max) => {
          expect(typeof jsonTooDeep(text, max)).toBe('boolean');
          expect(typeof jsonTooDeep(text)).toBe('boolean');
        },
      ),
    );
  }, timeout());
});
