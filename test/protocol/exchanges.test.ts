/**
 * Replays the recorded client↔server exchanges in protocol/exchanges/*.json twice, with one
 * engine and two drivers: against a real server over raw `ws` sockets, and against the core on
 * fake sockets and a fake clock (test/helpers/core.ts). Each file names the app settings it
 * needs and a list of steps; a client's frames must arrive exactly in the recorded order, and
 * nothing unrecorded may arrive (protocol/exchanges/README.md describes the format and its
 * placeholders).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sign } from '../helpers/auth.js';
import { CLIENT_QUERY, coreConfig, CoreHarness } from '../helpers/core.js';
import type { FakePort } from '../helpers/fake-socket.js';
import { APP, FrameReader, startServer } from '../helpers/server.js';

const DIR = join(import.meta.dirname, '../../protocol/exchanges');
const SOCKET_ID = /<socket_id:([a-z0-9_-]+)>/g;
const SIGN = /^<sign:([\s\S]*)>$/;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type RestCall = 'trigger' | 'sendToUser' | 'terminateUserConnections';

interface Step {
  readonly note?: string;
  readonly connect?: string;
  readonly from?: string;
  readonly send?: Json;
  readonly to?: string;
  readonly expect?: Json;
  readonly times?: number;
  readonly close?: string;
  readonly expectClose?: { code: number; reason?: string };
  readonly rest?: { call: RestCall; args: Json[] };
}

interface Exchange {
  readonly title: string;
  readonly app?: Record<string, Json>;
  readonly steps: readonly Step[];
}

/** One client as the engine sees it, whatever carries its frames. */
interface Client {
  send(frame: Json): void;
  /** The next frame this client receives, parsed. */
  next(): Promise<unknown>;
  /** The client closes with 1000; resolves once the server has handled the close. */
  close(): Promise<void>;
  /** How the server closed this client. */
  closed(): Promise<{ code: number; reason: string }>;
  /** Frames received and not read by a step. */
  leftover(): unknown[];
}

/** A server for one exchange: clients, the `pusher` SDK's REST calls (answer status), teardown. */
interface Target {
  connect(): Client;
  rest(call: RestCall, args: unknown[]): Promise<number>;
  /** Checks that belong to this target alone, after a replay that passed. */
  verify(): void;
  stop(): Promise<void>;
}

type Driver = (app: Record<string, unknown>) => Promise<Target>;

/** The real server on 127.0.0.1 port 0; clients are raw `ws` sockets; REST is the `pusher` SDK. */
const socketDriver: Driver = async (app) => {
  const t = await startServer({ apps: [app] });
  return {
    connect(): Client {
      const r = new FrameReader(t.raw());
      return {
        send: (frame) => r.send(frame),
        next: () => r.next(),
        async close() {
          r.ws.close(1000);
          await r.waitClose(); // the server has run its close handling once the handshake completes
        },
        closed: () => r.waitClose(),
        leftover: () => r.frames,
      };
    },
    async rest(call, args) {
      const sdk = t.sdk() as unknown as Record<RestCall, (...a: unknown[]) => Promise<Response>>;
      return (await sdk[call](...args)).status;
    },
    verify: () => {},
    stop: () => t.close(),
  };
};

/**
 * The core on fake sockets: a client's frames are its socket's inbox, complete as soon as the
 * core returns (the local cluster answers synchronously), so nothing is awaited. REST steps go
 * through the RestApi (routing, signature check, body parsing), with the request the `pusher`
 * SDK sends for that call, signed at the fake clock's time.
 */
const coreDriver: Driver = (app) => {
  const h = new CoreHarness(coreConfig({ apps: [app] }));
  const ports: FakePort[] = [];
  return Promise.resolve({
    connect(): Client {
      const { port, conn } = h.handshake({ key: APP.key, query: CLIENT_QUERY });
      ports.push(port);
      let read = 0;
      return {
        send(frame) {
          if (conn === undefined) throw new Error('send on a connection the core refused');
          h.core.message(conn, JSON.stringify(frame));
        },
        next() {
          const raw = port.inbox[read];
          if (raw === undefined) return Promise.reject(new Error(`no frame: the core sent ${read} and they were all read`));
          read++;
          return Promise.resolve(JSON.parse(raw) as unknown);
        },
        close() {
          port.disconnect(1000);
          return Promise.resolve();
        },
        closed() {
          const c = port.closed;
          return c?.by === 'server' ? Promise.resolve(c) : Promise.reject(new Error(`the core did not close this socket (${JSON.stringify(c)})`));
        },
        leftover: () => port.inbox.slice(read).map((f) => JSON.parse(f) as unknown),
      };
    },
    async rest(call, args) {
      const [first, event, data] = args;
      const events = `/apps/${h.app().id}/events`;
      const payload = (channels: unknown): unknown => ({ name: event, data: typeof data === 'string' ? data : JSON.stringify(data), channels });
      const res =
        call === 'terminateUserConnections'
          ? await h.request('POST', `/apps/${h.app().id}/users/${String(first)}/terminate_connections`, {})
          : await h.request('POST', events, payload(call === 'sendToUser' ? [`#server-to-user-${String(first)}`] : Array.isArray(first) ? first : [first]));
      return res.status;
    },
    verify() {
      expect(h.errorLogs, 'error-level log lines').toEqual([]);
      expect(h.hub.violations, 'port contract breaches').toEqual([]);
      expect(ports.flatMap((p) => p.late), 'frames sent to closed sockets').toEqual([]);
    },
    stop: () => Promise.resolve(),
  });
};

class Replay {
  readonly clients = new Map<string, Client>();
  readonly ids = new Map<string, string>();

  constructor(readonly target: Target) {}

  client(name: string | undefined): Client {
    const c = this.clients.get(name ?? '');
    if (c === undefined) throw new Error(`exchange uses client "${name}" before connecting it`);
    return c;
  }

  /** Outgoing: socket ids filled in, then "<sign:TEXT>" replaced by the app's signature of TEXT. */
  fill(value: Json): Json {
    if (typeof value === 'string') {
      const text = value.replace(SOCKET_ID, (_, name: string) => this.ids.get(name) ?? `<unbound ${name}>`);
      const signed = SIGN.exec(text);
      return signed ? sign(signed[1] ?? '') : text;
    }
    if (Array.isArray(value)) return value.map((v) => this.fill(v));
    if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.fill(v)]));
    return value;
  }

  /** Incoming: exact structure; strings may hold <socket_id:NAME>, which binds NAME the first time. */
  match(expected: Json, actual: unknown, path: string): void {
    if (typeof expected === 'string' && typeof actual === 'string') {
      const names: string[] = [];
      const pattern = expected.split(SOCKET_ID).map((part, i) => {
        if (i % 2 === 0) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        const bound = this.ids.get(part);
        if (bound !== undefined) return bound.replace('.', '\\.');
        names.push(part);
        return '(\\d+\\.\\d+)';
      });
      const m = new RegExp(`^${pattern.join('')}$`).exec(actual);
      if (m === null) throw new Error(`${path}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
      names.forEach((name, i) => this.ids.set(name, m[i + 1] ?? ''));
      return;
    }
    if (expected !== null && typeof expected === 'object' && actual !== null && typeof actual === 'object') {
      expect(Object.keys(actual).sort(), `${path}: keys`).toEqual(Object.keys(expected).sort());
      for (const [k, v] of Object.entries(expected)) this.match(v as Json, (actual as Record<string, unknown>)[k], `${path}.${k}`);
      return;
    }
    expect(actual, path).toEqual(expected);
  }

  async run(step: Step, index: number): Promise<void> {
    const where = `step ${index + 1}${step.note ? ` (${step.note})` : ''}`;
    const times = step.times ?? 1;
    if (step.connect !== undefined) {
      this.clients.set(step.connect, this.target.connect());
    } else if (step.send !== undefined) {
      for (let i = 0; i < times; i++) this.client(step.from).send(this.fill(step.send));
    } else if (step.expect !== undefined) {
      for (let i = 0; i < times; i++) this.match(step.expect, await this.client(step.to).next(), `${where} → ${step.to}`);
    } else if (step.close !== undefined) {
      await this.client(step.close).close();
    } else if (step.expectClose !== undefined) {
      const closed = await this.client(step.to).closed();
      expect(closed.code, where).toBe(step.expectClose.code);
      if (step.expectClose.reason !== undefined) this.match(step.expectClose.reason, closed.reason, `${where} close reason`);
    } else if (step.rest !== undefined) {
      expect(await this.target.rest(step.rest.call, step.rest.args.map((a) => this.fill(a))), where).toBe(200);
    } else {
      throw new Error(`${where}: unknown step ${JSON.stringify(step)}`);
    }
  }
}

const files = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();
const exchanges = files.map((file) => ({ file, exchange: JSON.parse(readFileSync(join(DIR, file), 'utf8')) as Exchange }));

it('has recordings to replay', () => {
  expect(files.length).toBeGreaterThanOrEqual(3);
});

const DRIVERS: ReadonlyArray<[string, Driver]> = [
  ['a real server over raw sockets', socketDriver],
  ['the core on fake sockets and a fake clock', coreDriver],
];

for (const [name, driver] of DRIVERS) {
  describe(`recorded exchanges against ${name}`, () => {
    for (const { file, exchange } of exchanges) {
      it(`${file}: ${exchange.title}`, async () => {
        const target = await driver({ ...APP, ...exchange.app });
        try {
          const replay = new Replay(target);
          for (const [i, step] of exchange.steps.entries()) await replay.run(step, i);
          // Nothing left over: every frame the server sent was recorded.
          for (const [client, c] of replay.clients) expect(c.leftover(), `unexpected frames for ${client}`).toEqual([]);
          target.verify();
        } finally {
          await target.stop();
        }
      });
    }
  });
}
