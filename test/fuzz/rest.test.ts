/**
 * Fuzzes the REST router (RestApi in src/rest/router.ts) built as src/server.ts builds it, over
 * a real Core with subscribed and signed-in connections (test/fuzz/world.ts):
 *  - unsigned requests with arbitrary methods, paths (route-shaped with odd app ids and
 *    percent-escapes such as /apps/%ZZ/channels/%E0, random strings, paths up to 100k
 *    characters), raw queries and bodies (random bytes, JSON values, deep nesting);
 *  - correctly signed requests (auth_key, auth_timestamp, auth_version, body_md5,
 *    auth_signature over restStringToSign) to every route and app with arbitrary JSON bodies,
 *    event-shaped bodies with fuzzed fields, batches, deep nesting and extra query parameters.
 * Invariants:
 *  - precheck and handle never throw; every answer (awaited when a promise) has a status in
 *    {200,400,401,403,404,405,413,429,503} (never 500: that is a handler fault), a string
 *    body, a JSON or text content type and string header values; a 200 is a JSON object;
 *  - a request precheck refuses is refused by handle with the same status;
 *  - onRequest reports every answer exactly once, with its status;
 *  - a correctly signed request passes precheck and is never answered 401; a signed, valid
 *    publish or channel query to an enabled app within its limits is answered 200;
 *  - a signed body nested deeper than MAX_JSON_DEPTH is a 400, a shallower valid one a 200;
 *  - whatever the requests did (publishes, terminate_connections), every frame sent is well
 *    formed, the core's books stay consistent, and closing every connection returns it to
 *    baseline.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseQuery, restStringToSign } from '../../src/auth/rest-auth.js';
import type { HttpResponse } from '../../src/rest/http.js';
import { MAX_JSON_DEPTH } from '../../src/wire/json-depth.js';
import { checkAsync, timeout } from './runs.js';
import { hmacHex, md5Hex, socketAuth, World, type OpenConn } from './world.js';

const STATUSES = new Set([200, 400, 401, 403, 404, 405, 413, 429, 503]);
const APP_IDS = ['fuzz-app', 'slow-app', 'off-app', 'spent-app'] as const;
const CHANNELS = ['a', 'b', 'cache-a', 'private-a', 'presence-a', 'presence-cache-a', '#server-to-user-u1', 'private-encrypted-a'] as const;

/** A world with two connections on fuzz-app: one on a, cache-a, private-a and presence-a, one signed in as u1. */
function restWorld(): { world: World; conns: OpenConn[] } {
  const world = new World();
  const app = world.app('fuzz-app');
  const a = world.open(app);
  const b = world.open(app);
  if (a === undefined || b === undefined) throw new Error('admission refused');
  for (const channel of ['a', 'cache-a', 'private-a']) {
    const auth = channel.startsWith('private-') ? socketAuth(app, `${a.conn.socketId}:${channel}`) : undefined;
    world.core.message(a.conn, JSON.stringify({ event: 'pusher:subscribe', data: { channel, auth } }));
  }
  const cd = JSON.stringify({ user_id: 'u9' });
  world.core.message(a.conn, JSON.stringify({ event: 'pusher:subscribe', data: { channel: 'presence-a', channel_data: cd, auth: socketAuth(app, `${a.conn.socketId}:presence-a:${cd}`) } }));
  const ud = JSON.stringify({ id: 'u1' });
  world.core.message(b.conn, JSON.stringify({ event: 'pusher:signin', data: { user_data: ud, auth: socketAuth(app, `${b.conn.socketId}::user::${ud}`) } }));
  world.core.message(b.conn, JSON.stringify({ event: 'pusher:subscribe', data: { channel: '#server-to-user-u1' } }));
  if (a.conn.channels.size !== 4 || b.conn.user?.id !== 'u1' || b.conn.channels.size !== 1) throw new Error('REST world setup failed');
  return { world, conns: [a, b] };
}

function wellFormed(r: HttpResponse, what: string): void {
  if (!STATUSES.has(r.status)) throw new Error(`${what}: status ${r.status} (${r.body.slice(0, 300)})`);
  expect(typeof r.body).toBe('string');
  expect(['application/json', 'text/plain']).toContain(r.contentType);
  for (const v of Object.values(r.headers)) expect(typeof v).toBe('string');
  if (r.status === 429) expect(r.headers['Retry-After']).toMatch(/^[1-9]\d*$/);
  if (r.status === 200) {
    expect(r.contentType).toBe('application/json');
    const v: unknown = JSON.parse(r.body);
    expect(typeof v === 'object' && v !== null && !Array.isArray(v)).toBe(true);
  }
}

interface Req {
  readonly method: string;
  readonly path: string;
  readonly rawQuery: string;
  readonly body: Buffer;
}

/** precheck, then (whatever precheck said) handle; checks both answers and that onRequest saw each once. */
async function exchange(world: World, req: Req): Promise<{ pre: HttpResponse | undefined; res: HttpResponse }> {
  const logged = world.restLog.length;
  const pre = world.rest.precheck(req.method, req.path, req.rawQuery);
  if (pre !== undefined) {
    wellFormed(pre, `precheck ${req.method} ${req.path.slice(0, 80)}`);
    expect(world.restLog.length).toBe(logged + 1);
    expect(world.restLog[logged]?.status).toBe(pre.status);
  } else {
    expect(world.restLog.length).toBe(logged);
  }
  const before = world.restLog.length;
  const res = await world.rest.handle(req);
  wellFormed(res, `handle ${req.method} ${req.path.slice(0, 80)}?${req.rawQuery.slice(0, 80)}`);
  expect(world.restLog.length).toBe(before + 1);
  expect(world.restLog[before]?.status).toBe(res.status);
  if (pre !== undefined) expect(res.status).toBe(pre.status);
  return { pre, res };
}

function afterwards(world: World): void {
  world.checkFrames();
  world.checkConsistency();
  world.closeAll();
  world.checkBaseline(['u1', 'u9'], CHANNELS);
  expect(world.violations).toEqual([]);
  expect(world.errorLogs).toEqual([]);
}

// ── arbitraries ──────────────────────────────────────────────────────────────────────

const hexChar = fc.constantFrom(...'0123456789abcdefABCDEFxZ%'.split(''));
const escapeArb = fc.tuple(hexChar, hexChar).map(([a, b]) => `%${a}${b}`);
/** A path segment: plain characters, valid and broken percent-escapes, encoded slashes. */
const segmentArb = fc
  .array(fc.oneof(fc.string({ minLength: 1, maxLength: 4 }), escapeArb, fc.constantFrom('%E0', '%ZZ', '%', '%C3%A9', '%2F', '%ED%A0%80', 'private-a', 'presence-a', 'a', 'u1')), {
    minLength: 1,
    maxLength: 6,
  })
  .map((parts) => parts.join(''));
const appSegmentArb = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...APP_IDS, 'nope', '%ZZ', 'fuzz%2Dapp', '%E0', '') }, segmentArb);
const methodArb = fc.oneof({ weight: 6, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'get', 'post') }, fc.string());
const routeTail = fc.oneof(
  fc.constant('/events'),
  fc.constant('/batch_events'),
  fc.constant('/channels'),
  segmentArb.map((s) => `/channels/${s}`),
  segmentArb.map((s) => `/channels/${s}/users`),
  segmentArb.map((s) => `/users/${s}/terminate_connections`),
  segmentArb.map((s) => `/${s}`),
);
const longPathArb = fc
  .tuple(fc.integer({ min: 1, max: 100_000 }), fc.constantFrom('/apps/fuzz-app/channels/', '/apps/', '/apps/fuzz-app/users/', '/'), fc.constantFrom('', '/users', '/events', '/terminate_connections'))
  .map(([n, head, tail]) => `${head}${'a'.repeat(n)}${tail}`);
const pathArb = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(appSegmentArb, routeTail).map(([app, tail]) => `/apps/${app}${tail}`) },
  { weight: 1, arbitrary: fc.string() },
  { weight: 1, arbitrary: fc.webPath() },
  { weight: 1, arbitrary: longPathArb },
);
const deepArb = fc.integer({ min: 1, max: 5000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`);
const rawQueryArb = fc.oneof(
  fc.string(),
  fc.webQueryParameters(),
  fc
    .array(
      fc.tuple(fc.oneof(fc.constantFrom('auth_key', 'auth_timestamp', 'auth_version', 'auth_signature', 'body_md5', 'info', 'AUTH_KEY'), fc.string()), fc.oneof(fc.constantFrom('fuzz-key', '1.0', '', '%E0', '99999999999999999999'), segmentArb, fc.string())),
      { maxLength: 6 },
    )
    .map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join('&')),
);
const bodyArb: fc.Arbitrary<Buffer> = fc.oneof(
  fc.constant(Buffer.alloc(0)),
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
  fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v))),
  deepArb.map((d) => Buffer.from(d)),
  deepArb.map((d) => Buffer.from(`{"name":"e","data":"x","channels":["a"],"j":${d}}`)),
);

/** Channel lists: mostly valid names (so publishes go through), sometimes junk. */
const channelsArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.array(fc.constantFrom(...CHANNELS), { minLength: 1, maxLength: 5 }) },
  { weight: 1, arbitrary: fc.array(fc.oneof(fc.string(), fc.jsonValue({ maxDepth: 1 })), { maxLength: 5 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
);
const infoArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('user_count', 'subscription_count', 'user_count,subscription_count', ' subscription_count , ', '') },
  fc.constantFrom('cache', 'nope'),
  fc.jsonValue({ maxDepth: 1 }),
);
/** socket_id: a real connection's (by index), well-formed strangers, or junk. */
const socketIdArb: fc.Arbitrary<unknown> = fc.oneof({ weight: 4, arbitrary: fc.nat(1) }, fc.constantFrom('1.2', '123.456', '1.2.3', ''), fc.jsonValue({ maxDepth: 1 }));
const eventFields = {
  name: fc.oneof({ weight: 5, arbitrary: fc.constantFrom('ev', 'my-event', 'client-x') }, fc.constantFrom('pusher:x', '', 'e'.repeat(41)), fc.jsonValue({ maxDepth: 1 })),
  data: fc.oneof({ weight: 4, arbitrary: fc.string({ maxLength: 300 }) }, fc.jsonValue({ maxDepth: 3 })),
  channels: channelsArb,
  channel: fc.oneof(fc.constantFrom(...CHANNELS), fc.jsonValue({ maxDepth: 1 })),
  socket_id: socketIdArb,
  info: infoArb,
  extra: fc.jsonValue({ maxDepth: 2 }),
};
/** Event objects: mostly with name, data and channels (so many are valid), sometimes any subset of fields. */
const eventObjArb = fc.oneof(
  { weight: 4, arbitrary: fc.record(eventFields, { requiredKeys: ['name', 'data', 'channels'] }) },
  { weight: 1, arbitrary: fc.record(eventFields, { requiredKeys: [] }) },
);

type Route = 'events' | 'batch_events' | 'channels' | 'channel' | 'channel_users' | 'terminate';
const signedArb = fc.record({
  app: fc.constantFrom(...APP_IDS),
  encodeAppId: fc.boolean(),
  route: fc.constantFrom<Route>('events', 'events', 'batch_events', 'channels', 'channel', 'channel_users', 'terminate'),
  name: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...CHANNELS, 'u1', 'u9', 'nobody') }, segmentArb),
  /** The body the route expects ('fit': an event for /events, a batch for /batch_events), another route's, any JSON, or none. */
  bodyKind: fc.constantFrom('fit', 'fit', 'fit', 'fit', 'fit', 'swapped', 'json', 'none'),
  event: eventObjArb,
  batch: fc.record({ batch: fc.oneof({ weight: 4, arbitrary: fc.array(eventObjArb, { minLength: 1, maxLength: 4 }) }, fc.jsonValue({ maxDepth: 2 })) }, { requiredKeys: [] }),
  json: fc.jsonValue(),
  extra: fc.array(
    fc.tuple(
      fc.oneof(fc.constantFrom('info', 'filter_by_prefix', 'Info'), fc.string().filter((k) => !/^(auth_|body_md5)/i.test(k))),
      fc.oneof(fc.constantFrom('user_count', 'subscription_count', 'cache', 'presence-', 'private-', ''), fc.string(), fc.string({ unit: 'grapheme' })),
    ),
    { maxLength: 3 },
  ),
  skewSec: fc.oneof(fc.constant(0), fc.integer({ min: -599, max: 599 })),
  bodyOnGet: fc.constantFrom(false, false, false, true),
  tickMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 3000 })),
});
type Signed = typeof signedArb extends fc.Arbitrary<infer T> ? T : never;

const ROUTE_METHOD: Record<Route, string> = { events: 'POST', batch_events: 'POST', channels: 'GET', channel: 'GET', channel_users: 'GET', terminate: 'POST' };

function encodeAll(s: string): string {
  return [...Buffer.from(s, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0').toUpperCase()}`).join('');
}

/** Builds a correctly signed request as the Pusher server SDKs do. */
function signedRequest(world: World, conns: readonly OpenConn[], s: Signed): Req {
  const app = world.app(s.app);
  const method = ROUTE_METHOD[s.route];
  const id = s.encodeAppId ? encodeAll(app.id) : app.id;
  const seg = encodeURIComponent(s.name);
  const path = {
    events: `/apps/${id}/events`,
    batch_events: `/apps/${id}/batch_events`,
    channels: `/apps/${id}/channels`,
    channel: `/apps/${id}/channels/${seg}`,
    channel_users: `/apps/${id}/channels/${seg}/users`,
    terminate: `/apps/${id}/users/${seg}/terminate_connections`,
  }[s.route];
  const withSockets = (v: unknown): unknown => {
    if (typeof v !== 'object' || v === null) return v;
    const o = { ...(v as Record<string, unknown>) };
    if (typeof o.socket_id === 'number') o.socket_id = conns[o.socket_id]?.conn.socketId;
    if (Array.isArray(o.batch)) o.batch = o.batch.map(withSockets);
    return o;
  };
  const fitting = s.route === 'batch_events' ? s.batch : s.event;
  const other = s.route === 'batch_events' ? s.event : s.batch;
  const chosen = { fit: fitting, swapped: other, json: s.json, none: undefined }[s.bodyKind];
  const bodyValue = withSockets(chosen);
  const sendBody = method === 'POST' || s.bodyOnGet;
  const body = sendBody && bodyValue !== undefined ? Buffer.from(JSON.stringify(bodyValue)) : Buffer.alloc(0);
  const params: Array<[string, string]> = [
    ['auth_key', app.key],
    ['auth_timestamp', String(Math.floor(world.now() / 1000) + s.skewSec)],
    ['auth_version', '1.0'],
    ...s.extra,
  ];
  if (body.length > 0) params.push(['body_md5', md5Hex(body)]);
  const unsigned = params.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  const signature = hmacHex(app.secret, restStringToSign(method, path, parseQuery(unsigned)));
  return { method, path, rawQuery: `${unsigned}&auth_signature=${signature}`, body };
}

function sign(world: World, method: string, path: string, body: Buffer, extra: ReadonlyArray<[string, string]> = []): Req {
  const app = world.app('fuzz-app');
  const params: Array<[string, string]> = [['auth_key', app.key], ['auth_timestamp', String(Math.floor(world.now() / 1000))], ['auth_version', '1.0'], ...extra];
  if (body.length > 0) params.push(['body_md5', md5Hex(body)]);
  const unsigned = params.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  return { method, path, rawQuery: `${unsigned}&auth_signature=${hmacHex(app.secret, restStringToSign(method, path, parseQuery(unsigned)))}`, body };
}

// ── properties ───────────────────────────────────────────────────────────────────────

describe('RestApi', () => {
  it('answers arbitrary unsigned requests well-formed, never 500, never throws', async () => {
    await checkAsync(
      fc.asyncProperty(fc.array(fc.record({ method: methodArb, path: pathArb, rawQuery: rawQueryArb, body: bodyArb }), { minLength: 1, maxLength: 6 }), async (reqs) => {
        const { world } = restWorld();
        for (const req of reqs) {
          const { res } = await exchange(world, req);
          expect(res.status).not.toBe(200); // nothing unsigned gets through
        }
        afterwards(world);
      }),
      0.15,
    );
  }, timeout(0.15, 20));

  it('lets every correctly signed request past authentication and answers it well-formed', async () => {
    await checkAsync(
      fc.asyncProperty(fc.array(signedArb, { minLength: 1, maxLength: 6 }), async (requests) => {
        const { world, conns } = restWorld();
        for (const s of requests) {
          world.clock.advance(s.tickMs);
          const req = signedRequest(world, conns, s);
          const { pre, res } = await exchange(world, req);
          expect(pre).toBeUndefined();
          if (res.status === 401) throw new Error(`signed request refused: ${req.method} ${req.path}?${req.rawQuery} → ${res.body}`);
          if (s.app === 'off-app') expect(res.status).toBe(403);
        }
        afterwards(world);
      }),
      0.15,
    );
  }, timeout(0.15, 20));

  it('publishes every valid signed event (200) and delivers well-formed frames', async () => {
    const validEvent = fc.record({
      name: fc.string({ minLength: 1, maxLength: 40 }).filter((n) => !n.startsWith('pusher:') && !n.startsWith('pusher_internal:')),
      data: fc.string({ maxLength: 200 }),
      channels: fc.array(fc.constantFrom(...CHANNELS), { minLength: 1, maxLength: 4 }),
    });
    await checkAsync(
      fc.asyncProperty(validEvent, fc.option(fc.nat(1), { nil: undefined }), fc.boolean(), async (ev, except, withInfo) => {
        const { world, conns } = restWorld();
        const body: Record<string, unknown> = { ...ev };
        if (except !== undefined) body.socket_id = conns[except]?.conn.socketId;
        if (withInfo) body.info = 'subscription_count';
        const { res } = await exchange(world, sign(world, 'POST', '/apps/fuzz-app/events', Buffer.from(JSON.stringify(body))));
        expect(res.status).toBe(200);
        const listed = await exchange(world, sign(world, 'GET', '/apps/fuzz-app/channels', Buffer.alloc(0)));
        expect(listed.res.status).toBe(200);
        expect(Object.keys((JSON.parse(listed.res.body) as { channels: object }).channels).sort()).toEqual(['a', 'cache-a', 'presence-a', 'private-a']);
        afterwards(world);
      }),
      0.1,
    );
  }, timeout(0.1, 20));

  it('refuses signed bodies nested deeper than MAX_JSON_DEPTH with 400 and accepts shallower ones', async () => {
    await checkAsync(
      fc.asyncProperty(fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 5000 })), fc.constantFrom('arr', 'obj'), async (n, kind) => {
        const { world } = restWorld();
        const deep = kind === 'arr' ? `${'['.repeat(n)}${']'.repeat(n)}` : `${'{"k":'.repeat(n)}1${'}'.repeat(n)}`;
        const body = Buffer.from(`{"name":"e","data":"x","channels":["a"],"j":${deep}}`);
        const { res } = await exchange(world, sign(world, 'POST', '/apps/fuzz-app/events', body));
        expect(res.status).toBe(n + 1 > MAX_JSON_DEPTH ? 400 : 200);
        afterwards(world);
      }),
      0.05,
    );
  }, timeout(0.05, 20));
});
