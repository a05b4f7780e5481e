/**
 * Every signature vector in protocol/vectors/signatures.json through the auth module: the
 * string to sign, the signature, verification, and rejection of a one-character change.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { restStringToSign, verifyRestRequest } from '../../src/auth/rest-auth.js';
import { channelStringToSign, sign, userStringToSign, verifyAuth } from '../../src/auth/socket-auth.js';
import { hmacHex, md5Hex } from '../../src/auth/hmac.js';

interface Vectors {
  app: { key: string; secret: string };
  channel: Array<{ kind: string; socket_id: string; channel: string; channel_data?: string; string_to_sign: string; auth: string }>;
  user: Array<{ socket_id: string; user_data: string; string_to_sign: string; auth: string }>;
  rest: Array<{ secret: string; method: string; path: string; query: Record<string, string>; body: string; string_to_sign: string; signature: string }>;
}

const vectors = JSON.parse(readFileSync(new URL('../../protocol/vectors/signatures.json', import.meta.url), 'utf8')) as Vectors;
const app = vectors.app;

function flip(s: string): string {
  const last = s.at(-1) === '0' ? '1' : '0';
  return s.slice(0, -1) + last;
}

describe('channel signature vectors', () => {
  it.each(vectors.channel)('$kind $channel', (v) => {
    const toSign = channelStringToSign(v.socket_id, v.channel, v.channel_data);
    expect(toSign).toBe(v.string_to_sign);
    expect(sign(app, toSign)).toBe(v.auth);
    expect(verifyAuth(app, toSign, v.auth)).toEqual({ ok: true, value: undefined });
    expect(verifyAuth(app, toSign, flip(v.auth)).ok).toBe(false);
    expect(verifyAuth({ ...app, key: 'other' }, toSign, v.auth).ok).toBe(false);
  });
});

describe('user sign-in vectors', () => {
  it.each(vectors.user)('$user_data', (v) => {
    const toSign = userStringToSign(v.socket_id, v.user_data);
    expect(toSign).toBe(v.string_to_sign);
    expect(sign(app, toSign)).toBe(v.auth);
    expect(verifyAuth(app, toSign, v.auth)).toEqual({ ok: true, value: undefined });
    expect(verifyAuth(app, toSign, flip(v.auth)).ok).toBe(false);
  });
});

describe('REST request vectors', () => {
  it.each(vectors.rest)('$method $path', (v) => {
    const query = new Map(Object.entries(v.query));
    expect(restStringToSign(v.method, v.path, query)).toBe(v.string_to_sign);
    expect(hmacHex(v.secret, v.string_to_sign)).toBe(v.signature);
    if (v.body) expect(md5Hex(v.body)).toBe(v.query.body_md5);
    const signed = new Map([...query, ['auth_signature', v.signature]]);
    const now = Number(v.query.auth_timestamp);
    const req = { method: v.method, path: v.path, query: signed, body: Buffer.from(v.body) };
    expect(verifyRestRequest(req, () => v.secret, now)).toEqual({ ok: true, value: v.query.auth_key });
    expect(verifyRestRequest({ ...req, query: new Map([...query, ['auth_signature', flip(v.signature)]]) }, () => v.secret, now).ok).toBe(false);
  });

  it('enforces the 600 s window: 599 s accepted, 600 s rejected, in both directions', () => {
    const v = vectors.rest[0]!;
    const query = new Map([...Object.entries(v.query), ['auth_signature', v.signature]]);
    const req = { method: v.method, path: v.path, query, body: Buffer.from(v.body) };
    const ts = Number(v.query.auth_timestamp);
    expect(verifyRestRequest(req, () => v.secret, ts + 599).ok).toBe(true);
    expect(verifyRestRequest(req, () => v.secret, ts - 599).ok).toBe(true);
    expect(verifyRestRequest(req, () => v.secret, ts + 600)).toMatchObject({ ok: false, error: { problem: 'bad_timestamp', reason: expect.stringMatching(/Timestamp expired/) } });
    expect(verifyRestRequest(req, () => v.secret, ts - 600).ok).toBe(false);
  });

  it('rejects a wrong auth_version, an unknown key and a tampered body', () => {
    const v = vectors.rest[0]!;
    const ts = Number(v.query.auth_timestamp);
    const base = new Map([...Object.entries(v.query), ['auth_signature', v.signature]]);
    const req = { method: v.method, path: v.path, query: base, body: Buffer.from(v.body) };
    expect(verifyRestRequest({ ...req, query: new Map([...base, ['auth_version', '2.0']]) }, () => v.secret, ts).ok).toBe(false);
    expect(verifyRestRequest(req, () => undefined, ts)).toMatchObject({ ok: false, error: { problem: 'unknown_key', reason: expect.stringMatching(/Unknown auth_key/) } });
    expect(verifyRestRequest({ ...req, body: Buffer.from(`${v.body} `) }, () => v.secret, ts)).toMatchObject({ ok: false, error: { problem: 'bad_body_md5', reason: expect.stringMatching(/body_md5/) } });
  });
});

describe('query parsing', () => {
  it('decodes exactly as URLSearchParams does, including + and malformed escapes', async () => {
    const { parseQuery } = await import('../../src/auth/rest-auth.js');
    const inputs = ['auth_key=k&auth_timestamp=1&x=a%20b', 'a=1+2&b=%E2%9C%93&c=', 'flag&=v&k=%zz&k2=%E2%', 'filter_by_prefix=presence-&info=user_count', ''];
    for (const raw of inputs) expect(parseQuery(raw)).toEqual(new Map(new URLSearchParams(raw)));
  });
});
