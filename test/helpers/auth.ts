/**
 * Auth as a real app does it: pusher-js customHandlers that sign with the `pusher` server SDK
 * (authorizeChannel for channels, authenticateUser for pusher.signin()), plus small waits on
 * pusher-js state used by the issue-3 integration tests.
 */
import { createHash, createHmac } from 'node:crypto';
import type Pusher from 'pusher';
import { APP, once, type PusherJS, type TestServer } from './server.js';

type Callback = (error: Error | null, auth: unknown) => void;

export interface Member {
  readonly user_id: string;
  readonly user_info?: Record<string, unknown>;
}

/** "<key>:<hex hmac>" over `text`, for inputs the SDK refuses to sign (bad user ids, encrypted channels without a master key). */
export function sign(text: string, app: { key: string; secret: string } = APP): string {
  return `${app.key}:${createHmac('sha256', app.secret).update(text).digest('hex')}`;
}

/** Resolves when pusher-js reaches `state` (at once if it is there already). */
export function reachesState(client: PusherJS, state: string): Promise<unknown> {
  if (client.connection.state === state) return Promise.resolve(state);
  return once((cb) => client.connection.bind('state_change', (s: { current: string }) => s.current === state && cb(s)), `state ${state}`);
}

/** pusher-js options whose channel auth signs with `sdk`; presence channels join as `member`. */
export function authOptions(sdk: Pusher, member?: Member, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    channelAuthorization: {
      customHandler: ({ socketId, channelName }: { socketId: string; channelName: string }, cb: Callback) =>
        cb(null, channelName.startsWith('presence-') && member ? sdk.authorizeChannel(socketId, channelName, member) : sdk.authorizeChannel(socketId, channelName)),
    },
    ...extra,
  };
}

/** pusher-js options for pusher.signin(): the app signs `user` with the SDK's authenticateUser. */
export function signinOptions(sdk: Pusher, user: { id: string; user_info?: unknown; watchlist?: string[] }): Record<string, unknown> {
  return {
    userAuthentication: {
      customHandler: ({ socketId }: { socketId: string }, cb: Callback) => cb(null, sdk.authenticateUser(socketId, user)),
    },
  };
}

/** A pusher-js client that signs channel auth (and, with `user`, sign-in) with the test app's SDK. */
export function authClient(t: TestServer, member?: Member, user?: { id: string; user_info?: unknown; watchlist?: string[] }, extra: Record<string, unknown> = {}): PusherJS {
  const sdk = t.sdk();
  return t.client({ ...authOptions(sdk, member), ...(user ? signinOptions(sdk, user) : {}), ...extra });
}

/** Signs in and waits until the #server-to-user channel is subscribed, so sendToUser reaches it. */
export async function signedIn(client: PusherJS): Promise<void> {
  client.signin();
  await client.user.signinDonePromise;
  const channel = client.user.serverToUserChannel;
  if (channel === null || client.user.user_data === null) throw new Error('pusher-js reports the sign-in failed');
  if (!channel.subscribed) await once((cb) => channel.bind('pusher:subscription_succeeded', cb), 'server-to-user subscription');
}

/** Resolves with the close code pusher-js reports (its connection `error` event carries it). */
export function closedWith(client: PusherJS, what: string): Promise<number> {
  return once<number>(
    (cb) =>
      client.connection.bind('error', (e: { error?: { data?: { code?: number } } }) => {
        const code = e.error?.data?.code;
        if (typeof code === 'number') cb(code);
      }),
    what,
  );
}

/** A URL for `method path` signed as the Pusher SDKs sign it (protocol §7.3); `tweak` edits the query before signing. */
export function signedUrl(
  port: number,
  method: string,
  path: string,
  body = '',
  tweak: (q: URLSearchParams) => void = () => {},
  app: { key: string; secret: string } = APP,
): string {
  const q = new URLSearchParams({ auth_key: app.key, auth_timestamp: String(Math.floor(Date.now() / 1000)), auth_version: '1.0' });
  if (body !== '') q.set('body_md5', createHash('md5').update(body).digest('hex'));
  tweak(q);
  const sorted = [...q.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${v}`).join('&');
  q.set('auth_signature', createHmac('sha256', app.secret).update(`${method}\n${path}\n${sorted}`).digest('hex'));
  return `http://127.0.0.1:${port}${path}?${q.toString()}`;
}
