/**
 * The cluster fault tests' common parts (test/cluster/faults-*.test.ts): one app, a private
 * redis-server per file, Herald nodes with short heartbeats, pusher-js clients on them, the
 * server SDK against one node, an admin Redis client to inject faults and read the shared
 * counters, and the exact cluster-wide state every node must agree on after a recovery.
 */
import Pusher from 'pusher';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { expect } from 'vitest';
import { cleanupNodeDirs, startNode, TestRedis, type NodeHandle } from './cluster.js';
import { once, PusherClient, type PusherJS } from './server.js';

export const APP = { id: 'f-app', key: 'f-key', secret: 'f-secret-xxxxxxx' };

/** Fast failure detection: a node silent 1.5 s is reaped, a command unanswered 500 ms fails. */
export const FAST = { heartbeatMs: 250, deadAfterMs: 1500, commandTimeoutMs: 500 };

export class FaultCluster {
  readonly nodes: NodeHandle[] = [];
  readonly clients: PusherJS[] = [];
  admin!: Redis;
  redis!: TestRedis;

  constructor(readonly keyPrefix: string) {}

  async start(nodes: number): Promise<void> {
    this.redis = await TestRedis.start();
    this.admin = new Redis(this.redis.url, { maxRetriesPerRequest: 1, retryStrategy: () => 50 });
    this.admin.on('error', () => undefined); // the fault tests kill and pause it; commands are retried
    for (let i = 0; i < nodes; i++) await this.node();
  }

  async node(): Promise<NodeHandle> {
    const n = await startNode({ redisUrl: this.redis.url, keyPrefix: this.keyPrefix, apps: [{ ...APP, enableClientEvents: true }], adapter: FAST, extra: { webhookDelayMs: 200 } });
    this.nodes.push(n);
    return n;
  }

  async stop(): Promise<void> {
    for (const c of this.clients.splice(0)) c.disconnect();
    await Promise.all(this.nodes.map((n) => n.kill('SIGKILL')));
    this.admin?.disconnect();
    await this.redis?.stop();
    cleanupNodeDirs();
  }

  client(n: NodeHandle, userId?: string): PusherJS {
    const s = sdk(n);
    const auth: Record<string, unknown> = {
      customHandler: ({ socketId, channelName }: { socketId: string; channelName: string }, cb: (e: Error | null, a: unknown) => void) =>
        cb(null, s.authorizeChannel(socketId, channelName, channelName.startsWith('presence-') ? { user_id: userId ?? 'anon', user_info: { name: userId } } : undefined)),
    };
    const options: Record<string, unknown> = { cluster: 'mt1', wsHost: '127.0.0.1', wsPort: n.port, forceTLS: false, enabledTransports: ['ws'], channelAuthorization: auth };
    const c = new PusherClient(APP.key, options as unknown as ConstructorParameters<typeof PusherClient>[1]);
    this.clients.push(c);
    return c;
  }

  /** `{prefix}:a:{app}:…` as the adapter names it (redis-keys.ts). */
  key(rest: string): string {
    return `{${this.keyPrefix}}:a:${APP.id}:${rest}`;
  }

  /** Kills this cluster's Redis connections of one role (`cmd` or `sub`) by their CLIENT SETNAME. */
  async killConnections(role: 'command' | 'subscriber'): Promise<number> {
    const list = await this.admin.client('LIST');
    const ids = String(list)
      .split('\n')
      .filter((l) => new RegExp(` name=herald:${this.keyPrefix}:\\w+:${role} `).test(l))
      .map((l) => /id=(\d+)/.exec(l)?.[1]);
    for (const id of ids) if (id !== undefined) await this.admin.client('KILL', 'ID', id);
    return ids.length;
  }
}

export function sdk(n: NodeHandle): Pusher {
  return new Pusher({ appId: APP.id, key: APP.key, secret: APP.secret, host: '127.0.0.1', port: String(n.port), useTLS: false });
}

export function subscribe(c: PusherJS, channel: string): Promise<unknown> {
  const ch = c.subscribe(channel);
  return once((cb) => ch.bind('pusher:subscription_succeeded', cb), `subscribe ${channel}`, 8000);
}

export function memberIds(c: PusherJS, channel: string): string[] {
  const members = (c.channel(channel) as unknown as { members: { each(fn: (m: { id: string }) => void): void } }).members;
  const ids: string[] = [];
  members.each((m) => ids.push(m.id));
  return ids.sort();
}

/** The HTTP status of a REST publish through `n` (2xx, or the error's status). */
export function publish(n: NodeHandle, channel: string, data: unknown): Promise<number> {
  return sdk(n)
    .trigger(channel, 'e', data)
    .then(
      (r) => r.status,
      (e: { status?: number }) => e.status ?? 0,
    );
}

export async function ready(n: NodeHandle): Promise<number> {
  return (await fetch(`http://127.0.0.1:${n.port}/ready`)).status;
}

export interface Expected {
  /** Presence channel → sorted user ids. */
  readonly rosters: Record<string, string[]>;
  /** Channel → subscription count (channels absent here must be unoccupied). */
  readonly subscriptions: Record<string, number>;
  /** Connections of the app cluster-wide. */
  readonly connections: number;
}

/** Asserts the exact cluster-wide state: through REST on every node, and in Redis's counters. */
export async function expectClusterState(f: FaultCluster, want: Expected): Promise<void> {
  for (const n of f.nodes.filter((x) => x.proc.exitCode === null && x.proc.signalCode === null)) {
    for (const [channel, users] of Object.entries(want.rosters)) {
      const r = (await (await sdk(n).get({ path: `/channels/${channel}/users` })).json()) as { users: Array<{ id: string }> };
      expect(r.users.map((u) => u.id).sort(), `roster of ${channel} on :${n.port}`).toEqual(users);
    }
    const list = (await (await sdk(n).get({ path: '/channels' })).json()) as { channels: Record<string, unknown> };
    expect(Object.keys(list.channels).sort(), `channels on :${n.port}`).toEqual(Object.keys(want.subscriptions).sort());
    for (const [channel, count] of Object.entries(want.subscriptions)) {
      const r = (await (await sdk(n).get({ path: `/channels/${channel}`, params: { info: 'subscription_count' } })).json()) as { subscription_count: number };
      expect(r.subscription_count, `subscriptions of ${channel} on :${n.port}`).toBe(count);
    }
  }
  expect(Number((await f.admin.get(f.key('conns'))) ?? 0), 'connections in Redis').toBe(want.connections);
  const subs = await f.admin.hgetall(f.key('subs'));
  expect(Object.fromEntries(Object.entries(subs).map(([k, v]) => [k, Number(v)])), 'subscriptions in Redis').toEqual(want.subscriptions);
}

/**
 * Opens a raw WebSocket to `n` and resolves with what it got first: `established` (the
 * connection_established frame), `closed <code>`, or `silent` after `ms` — a node must never
 * leave a new socket silent.
 */
export function firstAnswer(n: NodeHandle, ms: number): Promise<{ answer: string; ws: WebSocket; afterMs: number }> {
  const ws = new WebSocket(`ws://127.0.0.1:${n.port}/app/${APP.key}?protocol=7&client=js&version=8.4.0`);
  const opened = Date.now();
  return new Promise((resolve) => {
    const done = (answer: string): void => {
      clearTimeout(timer);
      resolve({ answer, ws, afterMs: Date.now() - opened });
    };
    const timer = setTimeout(() => done('silent'), ms);
    ws.once('message', (d: Buffer) => done(String(d).includes('pusher:connection_established') ? 'established' : `frame ${String(d)}`));
    ws.once('close', (code: number) => done(`closed ${code}`));
    ws.once('error', () => undefined);
  });
}
