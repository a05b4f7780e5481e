/**
 * Replays the recorded client↔server exchanges in protocol/exchanges/*.json against a real
 * server over raw `ws` sockets. Each file names the app settings it needs and a list of steps;
 * a client's frames must arrive exactly in the recorded order (protocol/exchanges/README.md
 * describes the format and its placeholders).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sign } from '../helpers/auth.js';
import { APP, FrameReader, type TestServer, startServer } from '../helpers/server.js';

const DIR = join(import.meta.dirname, '../../protocol/exchanges');
const SOCKET_ID = /<socket_id:([a-z0-9_-]+)>/g;
const SIGN = /^<sign:([\s\S]*)>$/;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

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
  readonly rest?: { call: 'trigger' | 'sendToUser' | 'terminateUserConnections'; args: Json[] };
}

interface Exchange {
  readonly title: string;
  readonly app?: Record<string, Json>;
  readonly steps: readonly Step[];
}

class Replay {
  readonly readers = new Map<string, FrameReader>();
  readonly ids = new Map<string, string>();

  constructor(readonly t: TestServer) {}

  reader(name: string | undefined): FrameReader {
    const r = this.readers.get(name ?? '');
    if (r === undefined) throw new Error(`exchange uses client "${name}" before connecting it`);
    return r;
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
      this.readers.set(step.connect, new FrameReader(this.t.raw()));
    } else if (step.send !== undefined) {
      for (let i = 0; i < times; i++) this.reader(step.from).send(this.fill(step.send));
    } else if (step.expect !== undefined) {
      for (let i = 0; i < times; i++) this.match(step.expect, await this.reader(step.to).next(), `${where} → ${step.to}`);
    } else if (step.close !== undefined) {
      const r = this.reader(step.close);
      r.ws.close(1000);
      await r.waitClose(); // the server has run its close handling once the handshake completes
    } else if (step.expectClose !== undefined) {
      const closed = await this.reader(step.to).waitClose();
      expect(closed.code, where).toBe(step.expectClose.code);
      if (step.expectClose.reason !== undefined) this.match(step.expectClose.reason, closed.reason, `${where} close reason`);
    } else if (step.rest !== undefined) {
      const sdk = this.t.sdk() as unknown as Record<string, (...a: unknown[]) => Promise<Response>>;
      const res = await sdk[step.rest.call]?.(...step.rest.args.map((a) => this.fill(a)));
      expect(res?.status, where).toBe(200);
    } else {
      throw new Error(`${where}: unknown step ${JSON.stringify(step)}`);
    }
  }
}

const files = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();
const servers: TestServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.close();
});

describe('recorded exchanges', () => {
  it('has recordings to replay', () => {
    expect(files.length).toBeGreaterThanOrEqual(3);
  });

  for (const file of files) {
    const exchange = JSON.parse(readFileSync(join(DIR, file), 'utf8')) as Exchange;
    it(`${file}: ${exchange.title}`, async () => {
      const t = await startServer({ apps: [{ ...APP, ...exchange.app }] });
      servers.push(t);
      const replay = new Replay(t);
      for (const [i, step] of exchange.steps.entries()) await replay.run(step, i);
      // Nothing left over: every frame the server sent was recorded.
      for (const [name, r] of replay.readers) expect(r.frames, `unexpected frames for ${name}`).toEqual([]);
    });
  }
});
