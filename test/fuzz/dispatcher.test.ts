/**
 * Fuzzes the frame dispatcher (Core.message, src/connection/core.ts) with a real Core built as
 * src/server.ts builds it (test/fuzz/world.ts), in every connection state: fresh, subscribed to
 * several channels (public, cache, private, encrypted, presence, #server-to-user), signed in,
 * rate limited, and after core.closed. Each case runs a fixed prelude that reaches those
 * states, then a random program mixing correctly signed subscribes and sign-ins, badly signed
 * ones, unsubscribes, client events, pings, garbage text, arbitrary JSON values, UTF-8
 * decoded bytes, deep nesting, clock jumps, liveness sweeps (pings, 4201, 4009 kicks), REST-
 * style publishes, terminate_connections, kickAll and closes (the fake transport reports a
 * socket the core closed gone at once, as uWS calls its close handler from `end`).
 * Invariants, checked after every step:
 *  - core.message (and every other core entry point) never throws;
 *  - every frame sent to a socket or through the hub is a JSON object with a non-empty string
 *    `event` (pusher:error carries {code, message}; other pusher frames carry JSON-string data);
 *  - a closed connection is sent nothing by core.message;
 *  - the core's bookkeeping matches its open connections (counts, subscribers per channel,
 *    socket topics, signed-in users, watchers), publishFromSelf only on subscribed topics,
 *    and observer hooks stay balanced (occupied/vacated, member added/removed);
 *  - correctly signed subscriptions and sign-ins in the prelude succeed;
 *  - after every connection is closed: no channels, 0 connections in every app state,
 *    core.connections empty, no users/watchers, the adapter holds nothing, every occupied
 *    channel was vacated, and the per-address records can be swept (no leaked count);
 *  - no error-level log line (adapter failures and handler faults log at error).
 * Also fuzzes the handshake — the WebSocket transport's appKeyOf (src/transport/uws.ts) then
 * the core's findApp (src/connection/handshake.ts) — with arbitrary paths, percent-escapes and
 * queries: never throws, answers an app or one of the Codes entries, and an app only when the
 * protocol is a supported version and the decoded key is the app's.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AppRegistry } from '../../src/apps/registry.js';
import { findApp } from '../../src/connection/handshake.js';
import { appKeyOf } from '../../src/transport/uws.js';
import { Codes } from '../../src/wire/codes.js';
import { check, timeout } from './runs.js';
import { CONFIG, socketAuth, World, type OpenConn } from './world.js';

const USERS = ['u1', 'u2', 'u3', 'u4', 'bad id', '', 'u-too-long-for-limit'] as const;
const CHANNELS = [
  'a',
  'b',
  'cache-a',
  'private-a',
  'private-b',
  'private-cache-a',
  'private-encrypted-a',
  'presence-a',
  'presence-b',
  'presence-cache-a',
  '#server-to-user-u1',
  '#server-to-user-u2',
  `private-${'x'.repeat(40)}`,
  'bad channel',
  '',
] as const;
const VALID_CHANNELS = CHANNELS.filter((c) => c !== '' && c !== 'bad channel' && c.length <= 40);
const WS_APPS = ['fuzz-app', 'strict-app', 'off-app', 'spent-app'] as const;

type AuthMode = 'good' | 'wrongSocket' | 'wrongKey' | 'wrongSecret' | 'none' | 'junk';

type Step =
  | { k: 'open'; app: number }
  | { k: 'close'; c: number; code: number | undefined }
  | { k: 'sub'; c: number; channel: unknown; auth: AuthMode; junk: unknown; channelData: string | undefined; dataOnAny: boolean; asString: boolean }
  | { k: 'signin'; c: number; userData: string; auth: AuthMode; junk: unknown; asString: boolean; omit: boolean }
  | { k: 'unsub'; c: number; channel: unknown; asString: boolean }
  | { k: 'client'; c: number; event: string; channel: unknown; data: unknown }
  | { k: 'raw'; c: number; text: string }
  | { k: 'tick'; ms: number }
  | { k: 'live' }
  | { k: 'idle' }
  | { k: 'publish'; app: number; channel: string; event: string; data: string; except: number | undefined }
  | { k: 'terminate'; app: number; user: string }
  | { k: 'kickAll' };

const connIndex = fc.nat(9);
const authMode = fc.constantFrom<AuthMode>('good', 'good', 'good', 'good', 'wrongSocket', 'wrongKey', 'wrongSecret', 'none', 'junk');
const channelArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom(...CHANNELS) },
  { weight: 1, arbitrary: fc.string() },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
);
const userIdArb: fc.Arbitrary<unknown> = fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...USERS) }, fc.integer(), fc.jsonValue({ maxDepth: 1 }));
const infoArb = fc.option(fc.jsonValue({ maxDepth: 3 }), { nil: undefined });
/** A deep JSON text (up to 5000 levels). */
const deepArb = fc.integer({ min: 1, max: 5000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`);

const channelDataArb: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  { weight: 6, arbitrary: fc.record({ user_id: userIdArb, user_info: infoArb }, { requiredKeys: ['user_id'] }).map((m) => JSON.stringify(m)) },
  { weight: 1, arbitrary: fc.string() },
  { weight: 1, arbitrary: deepArb.map((d) => `{"user_id":"u1","user_info":${d}}`) },
);

const userDataArb: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .record(
        { id: userIdArb, user_info: infoArb, watchlist: fc.oneof(fc.array(fc.constantFrom(...USERS), { maxLength: 4 }), fc.jsonValue({ maxDepth: 1 })) },
        { requiredKeys: ['id'] },
      )
      .map((u) => JSON.stringify(u)),
  },
  { weight: 1, arbitrary: fc.string() },
  { weight: 1, arbitrary: deepArb.map((d) => `{"id":"u1","user_info":${d}}`) },
);

const garbageArb: fc.Arbitrary<string> = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.object().map((v) => JSON.stringify(v) ?? ''),
  fc.uint8Array({ maxLength: 200 }).map((b) => new TextDecoder().decode(b)),
  deepArb,
  deepArb.map((d) => `{"event":"pusher:subscribe","data":${d}}`),
  fc
    .record(
      {
        event: fc.oneof(fc.constantFrom('pusher:subscribe', 'pusher:unsubscribe', 'pusher:signin', 'pusher:ping', 'pusher:pong', 'client-x', 'pusher:other'), fc.string()),
        channel: channelArb,
        data: fc.oneof(fc.jsonValue(), fc.jsonValue().map((v) => JSON.stringify(v))),
      },
      { requiredKeys: [] },
    )
    .map((v) => JSON.stringify(v)),
);

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ k: fc.constant('open' as const), app: fc.nat(WS_APPS.length - 1) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('close' as const), c: connIndex, code: fc.option(fc.constantFrom(1000, 1001, 1005, 1006, 4200, 3000), { nil: undefined }) }) },
  {
    weight: 30,
    arbitrary: fc.record({
      k: fc.constant('sub' as const),
      c: connIndex,
      channel: channelArb,
      auth: authMode,
      junk: fc.jsonValue({ maxDepth: 1 }),
      channelData: channelDataArb,
      dataOnAny: fc.constantFrom(false, false, false, false, false, false, false, true),
      asString: fc.boolean(),
    }),
  },
  {
    weight: 8,
    arbitrary: fc.record({ k: fc.constant('signin' as const), c: connIndex, userData: userDataArb, auth: authMode, junk: fc.jsonValue({ maxDepth: 1 }), asString: fc.boolean(), omit: fc.boolean() }),
  },
  { weight: 8, arbitrary: fc.record({ k: fc.constant('unsub' as const), c: connIndex, channel: channelArb, asString: fc.boolean() }) },
  {
    weight: 14,
    arbitrary: fc.record({
      k: fc.constant('client' as const),
      c: connIndex,
      event: fc.oneof(fc.constantFrom('client-x', 'client-typing'), fc.string().map((s) => `client-${s}`)),
      channel: fc.option(fc.oneof(fc.constantFrom('private-a', 'presence-a', 'private-b', 'presence-b'), channelArb), { nil: undefined }),
      data: fc.option(fc.jsonValue(), { nil: undefined }),
    }),
  },
  { weight: 10, arbitrary: fc.record({ k: fc.constant('raw' as const), c: connIndex, text: fc.oneof(garbageArb, fc.constantFrom('{"event":"pusher:ping","data":{}}', '{"event":"pusher:pong"}')) }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('tick' as const), ms: fc.oneof(fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 0, max: 200_000 })) }) },
  { weight: 3, arbitrary: fc.constant({ k: 'live' as const }) },
  { weight: 1, arbitrary: fc.constant({ k: 'idle' as const }) },
  {
    weight: 4,
    arbitrary: fc.record({
      k: fc.constant('publish' as const),
      app: fc.nat(1),
      channel: fc.constantFrom(...VALID_CHANNELS),
      event: fc.constantFrom('ev', 'my-event'),
      data: fc.string(),
      except: fc.option(connIndex, { nil: undefined }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('terminate' as const), app: fc.nat(1), user: fc.constantFrom(...USERS) }) },
  { weight: 1, arbitrary: fc.constant({ k: 'kickAll' as const }) },
);

function renderAuth(world: World, oc: OpenConn, mode: AuthMode, junk: unknown, textFor: (socketId: string) => string): unknown {
  const app = oc.conn.app;
  switch (mode) {
    case 'good':
      return socketAuth(app, textFor(oc.conn.socketId));
    case 'wrongSocket':
      return socketAuth(app, textFor('1234.5678'));
    case 'wrongKey':
      return `${world.app(app.id === 'fuzz-app' ? 'strict-app' : 'fuzz-app').key}:${socketAuth(app, textFor(oc.conn.socketId)).split(':')[1]}`;
    case 'wrongSecret':
      return `${app.key}:${socketAuth(world.app(app.id === 'fuzz-app' ? 'strict-app' : 'fuzz-app'), textFor(oc.conn.socketId)).split(':')[1]}`;
    case 'none':
      return undefined;
    case 'junk':
      return junk;
  }
}

function frame(event: string, data: Record<string, unknown>, asString: boolean): string {
  return JSON.stringify({ event, data: asString ? JSON.stringify(data) : data });
}

function subscribeText(world: World, oc: OpenConn, s: Extract<Step, { k: 'sub' }>): string {
  const data: Record<string, unknown> = { channel: s.channel };
  const channel = typeof s.channel === 'string' ? s.channel : JSON.stringify(s.channel);
  // channel_data belongs on presence channels; elsewhere it is sent only now and then (an AuthError).
  const channelData = channel.startsWith('presence-') || s.dataOnAny ? s.channelData : undefined;
  if (channelData !== undefined) data.channel_data = channelData;
  data.auth = renderAuth(world, oc, s.auth, s.junk, (sid) => (channelData === undefined ? `${sid}:${channel}` : `${sid}:${channel}:${channelData}`));
  return frame('pusher:subscribe', data, s.asString);
}

function signinText(world: World, oc: OpenConn, s: Extract<Step, { k: 'signin' }>): string {
  const data: Record<string, unknown> = s.omit ? {} : { user_data: s.userData };
  data.auth = renderAuth(world, oc, s.auth, s.junk, (sid) => `${sid}::user::${s.userData}`);
  return frame('pusher:signin', data, s.asString);
}

/** Sends one frame and checks that a closed connection gets nothing back. */
function message(world: World, oc: OpenConn, text: string): void {
  const closed = oc.conn.state !== 'open';
  const before = oc.port.inbox.length + oc.port.late.length;
  world.core.message(oc.conn, text);
  const sent = oc.port.inbox.length + oc.port.late.length - before;
  if (closed && sent !== 0) world.violations.push(`core.message sent ${sent} frames to a closed connection`);
}

/** Mostly an open connection; one index in five may name any connection, closed ones included. */
function pick(world: World, c: number): OpenConn | undefined {
  const open = world.conns.filter((oc) => oc.conn.state === 'open');
  if (c % 5 !== 0 && open.length > 0) return open[c % open.length];
  return world.conns.length === 0 ? undefined : world.conns[c % world.conns.length];
}

function run(world: World, s: Step): void {
  const core = world.core;
  switch (s.k) {
    case 'open':
      world.open(world.app(WS_APPS[s.app] ?? 'fuzz-app'));
      return;
    case 'close': {
      const oc = pick(world, s.c);
      if (oc === undefined) return;
      oc.port.disconnect(s.code); // the client goes away: the transport reports it
      core.closed(oc.conn, s.code); // idempotent: a second report changes nothing
      return;
    }
    case 'sub': {
      const oc = pick(world, s.c);
      if (oc !== undefined) message(world, oc, subscribeText(world, oc, s));
      return;
    }
    case 'signin': {
      const oc = pick(world, s.c);
      if (oc !== undefined) message(world, oc, signinText(world, oc, s));
      return;
    }
    case 'unsub': {
      const oc = pick(world, s.c);
      if (oc !== undefined) message(world, oc, frame('pusher:unsubscribe', { channel: s.channel }, s.asString));
      return;
    }
    case 'client': {
      const oc = pick(world, s.c);
      if (oc !== undefined) message(world, oc, JSON.stringify({ event: s.event, channel: s.channel, data: s.data }));
      return;
    }
    case 'raw': {
      const oc = pick(world, s.c);
      if (oc !== undefined) message(world, oc, s.text);
      return;
    }
    case 'tick':
      world.clock.advance(s.ms);
      return;
    case 'live':
      core.sweep();
      return;
    case 'idle': // silence past activity_timeout (server ping), then past pong_timeout (4201)
      for (const sec of [CONFIG.activityTimeoutSec, CONFIG.pongTimeoutSec]) {
        world.clock.advance(sec * 1000);
        core.sweep();
      }
      return;
    case 'publish': {
      const except = s.except === undefined ? undefined : pick(world, s.except)?.conn.socketId;
      const delivered = core.publish(world.app(WS_APPS[s.app] ?? 'fuzz-app'), s.channel, s.event, s.data, except);
      if (!Number.isSafeInteger(delivered) || delivered < 0) world.violations.push(`publish returned ${delivered}`);
      return;
    }
    case 'terminate':
      core.terminateUser(world.app(WS_APPS[s.app] ?? 'fuzz-app'), s.user);
      return;
    case 'kickAll':
      core.kickAll(Codes.RECONNECT);
      return;
  }
}

function sentEvents(oc: OpenConn): Array<{ event: string; channel?: string }> {
  return oc.port.inbox.map((f) => JSON.parse(f) as { event: string; channel?: string });
}

/**
 * Reaches every connection state: conn 0 subscribed to public, private and presence channels;
 * conn 1 signed in (watching u1, u3) and on its #server-to-user and a presence channel as its
 * signed-in identity; conn 2 subscribed and then closed; conn 3 fresh.
 */
function prelude(world: World): void {
  const app = world.app('fuzz-app');
  const [a, b, c, d] = [world.open(app), world.open(app), world.open(app), world.open(app)];
  if (a === undefined || b === undefined || c === undefined || d === undefined) throw new Error('prelude: admission refused');
  const sub = (oc: OpenConn, channel: string, channelData?: string): void => {
    const data: Record<string, unknown> = { channel };
    if (channelData !== undefined) data.channel_data = channelData;
    if (channel.startsWith('private-') || channel.startsWith('presence-')) {
      data.auth = socketAuth(app, channelData === undefined ? `${oc.conn.socketId}:${channel}` : `${oc.conn.socketId}:${channel}:${channelData}`);
    }
    message(world, oc, JSON.stringify({ event: 'pusher:subscribe', data }));
  };
  sub(a, 'a');
  sub(a, 'private-a');
  sub(a, 'presence-a', JSON.stringify({ user_id: 'u1', user_info: { name: 'one' } }));
  const userData = JSON.stringify({ id: 'u2', user_info: { n: 2 }, watchlist: ['u1', 'u3'] });
  message(world, b, JSON.stringify({ event: 'pusher:signin', data: { user_data: userData, auth: socketAuth(app, `${b.conn.socketId}::user::${userData}`) } }));
  sub(b, '#server-to-user-u2');
  sub(b, 'presence-a');
  sub(c, 'cache-a');
  c.port.disconnect(1006);
  world.checkFrames();
  // Correctly signed requests succeed.
  expect([...a.conn.channels.keys()].sort()).toEqual(['a', 'presence-a', 'private-a']);
  expect(b.conn.user?.id).toBe('u2');
  expect([...b.conn.channels.keys()].sort()).toEqual(['#server-to-user-u2', 'presence-a']);
  expect(sentEvents(a).filter((f) => f.event === 'pusher_internal:subscription_succeeded')).toHaveLength(3);
  expect(sentEvents(b).some((f) => f.event === 'pusher:signin_success')).toBe(true);
  expect(world.violations).toEqual([]);
}

const programArb = fc.array(stepArb, { minLength: 1, maxLength: 40, size: 'medium' });

describe('Core.message and the connection lifecycle', () => {
  it('never throws, sends only well-formed frames, keeps its books, and returns to baseline', () => {
    check(
      fc.property(programArb, (steps) => {
        const world = new World();
        prelude(world);
        steps.forEach((s, i) => {
          run(world, s);
          world.checkFrames();
          world.checkConsistency();
          if (world.violations.length > 0) throw new Error(`after step ${i} (${s.k}): ${world.violations.join('; ')}`);
        });
        world.closeAll();
        world.checkFrames();
        world.checkConsistency();
        world.checkBaseline(USERS.filter((u) => u !== ''), VALID_CHANNELS);
        expect(world.violations).toEqual([]);
        expect(world.errorLogs).toEqual([]);
      }),
      0.2,
    );
  }, timeout(0.2, 20));

  it('survives arbitrary garbage on fresh, subscribed, signed-in and closed connections', () => {
    check(
      fc.property(fc.array(fc.tuple(fc.nat(3), garbageArb), { minLength: 1, maxLength: 20 }), (frames) => {
        const world = new World();
        prelude(world);
        for (const [i, text] of frames) message(world, world.conns[i] as OpenConn, text);
        world.checkFrames();
        world.checkConsistency();
        world.closeAll();
        world.checkBaseline(USERS.filter((u) => u !== ''), VALID_CHANNELS);
        expect(world.violations).toEqual([]);
        expect(world.errorLogs).toEqual([]);
      }),
      0.2,
    );
  }, timeout(0.2, 20));
});

describe('handshake', () => {
  const CODES = new Set<unknown>(Object.values(Codes));
  const apps = new AppRegistry(CONFIG.apps);
  const hex = fc.constantFrom(...'0123456789abcdefABCDEFxZ%'.split(''));
  const escape = fc.tuple(hex, hex).map(([a, b]) => `%${a}${b}`);
  const segment = fc
    .array(fc.oneof(fc.string({ minLength: 1, maxLength: 3 }), escape, fc.constantFrom('%E0', '%ZZ', '%', '%C3%A9', '%2F', '/', '?', 'app', 'key', '%ED%A0%80')), { maxLength: 8 })
    .map((parts) => parts.join(''));
  const pathArb = fc.oneof(
    fc.tuple(fc.constantFrom('', '/ws', '/prefix/deep', '/app', '//'), segment, fc.constantFrom('', '/')).map(([p, key, slash]) => `${p}/app/${key}${slash}`),
    segment,
    fc.string({ unit: 'binary' }),
    fc.constantFrom('/app/%E0', '/app/', '/app', '/app/a/b', '/app/%'),
    fc.constantFrom(...CONFIG.apps.map((a) => `/app/${a.key}`), ...CONFIG.apps.map((a) => `/ws/app/${encodeURIComponent(a.key)}/`)),
  );
  const queryValue = fc.oneof(fc.constantFrom('7', '4', '8', '3', '', '07', '1e1', '7.0', '6 ', '+7', '-7', '0x7', '99999999999999999999'), fc.string(), segment);
  const versionValue = fc.oneof(fc.constantFrom('8.6.0', '1.2.3-beta', '1.2.3.4.5', 'not a version', ''), fc.string(), segment);
  const queryArb = fc.oneof(
    fc
      .record({ protocol: queryValue, version: versionValue, client: fc.string(), junk: segment }, { requiredKeys: [] })
      .map((q) => Object.entries(q).map(([k, v]) => `${k}=${v}`).join('&')),
    fc.string(),
    segment,
  );

  it('never throws and answers an app or a Pusher close code', () => {
    check(
      fc.property(pathArb, queryArb, (path, query) => {
        const r = findApp({ appKey: appKeyOf(path), query, address: '10.0.0.1' }, apps);
        if (r.ok) {
          expect(path).toContain('/app/');
          const protocol = new URLSearchParams(query).get('protocol') ?? '';
          expect(/^\d+$/.test(protocol) && Number(protocol) >= 4 && Number(protocol) <= 7).toBe(true);
          expect(decodeURIComponent(appKeyOf(path) ?? '')).toBe(r.value.key);
        } else {
          expect(CODES.has(r.error.code)).toBe(true);
          expect(r.error.detail.length).toBeGreaterThan(0);
        }
      }),
    );
  }, timeout());
});
