/**
 * The Prometheus endpoint on its own port: the exposition passes a strict text-format parser
 * (written here from the format's grammar, so a malformed line fails the test), every herald_
 * metric is documented in README.md, and the counters and scrape-time gauges move as
 * connections, subscriptions, publishes, REST calls and auth failures flow.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP, connected, FrameReader, once, rawConnect, startServer, subscribed, type TestServer } from '../helpers/server.js';

const OTHER = { id: 'other-app', key: 'other-key', secret: 'other-secret-xxx', limits: { maxMessagesPerDay: 5000, maxConnections: 7 } };
let t: TestServer;
let metricsPort: number;
let hooks: Server;

beforeAll(async () => {
  hooks = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  await new Promise<void>((r) => hooks.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/hook`;
  t = await startServer({
    metricsEnabled: true,
    metricsPort: 0,
    webhookBatchMs: 0,
    apps: [{ ...APP, enableClientEvents: true }, { ...OTHER, webhooks: [{ url, events: ['channel_occupied'] }] }],
  });
  metricsPort = t.server.metricsServer?.port ?? 0;
});
afterAll(async () => {
  await t.close();
  hooks.close();
});

// ---- a strict parser for the Prometheus text format 0.0.4 ----

interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}
interface Family {
  type: string;
  help: string;
  readonly samples: Sample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*';
// Values are read with Go's strconv.ParseFloat, which takes NaN and Inf in any case (prom-client writes "Nan").
const VALUE = '(?:[+-]?(?:\\d+\\.?\\d*(?:[eE][+-]?\\d+)?|\\.\\d+(?:[eE][+-]?\\d+)?|[iI][nN][fF]|[nN][aA][nN]))';
const LABEL_PAIR = `${LABEL}="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"`;
const SAMPLE = new RegExp(`^(${NAME})(?:\\{((?:${LABEL_PAIR})(?:,${LABEL_PAIR})*,?)?\\})? (${VALUE})(?: -?\\d+)?$`);
const HELP = new RegExp(`^# HELP (${NAME}) ((?:[^\\\\\\n]|\\\\[\\\\n])*)$`);
const TYPE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);
const SUFFIXES: Record<string, string[]> = { histogram: ['_bucket', '_sum', '_count'], summary: ['', '_sum', '_count'] };

function parseLabels(raw: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of (raw ?? '').matchAll(new RegExp(`(${LABEL})="((?:[^"\\\\\\n]|\\\\[\\\\"n])*)"`, 'g'))) {
    const [, k = '', v = ''] = m;
    if (k in out) throw new Error(`duplicate label ${k}`);
    out[k] = v.replace(/\\(.)/g, (_x, c: string) => (c === 'n' ? '\n' : c));
  }
  return out;
}

function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  let current: string | undefined;
  const family = (name: string): Family => {
    let f = families.get(name);
    if (f === undefined) {
      f = { type: 'untyped', help: '', samples: [] };
      families.set(name, f);
    }
    return f;
  };
  text.split('\n').forEach((line, i) => {
    const where = `line ${i + 1}: ${JSON.stringify(line)}`;
    if (line === '') return;
    let m: RegExpExecArray | null;
    if ((m = HELP.exec(line))) {
      family(m[1] ?? '').help = m[2] ?? '';
    } else if ((m = TYPE.exec(line))) {
      const f = family(m[1] ?? '');
      if (f.samples.length > 0) throw new Error(`TYPE after samples, ${where}`);
      f.type = m[2] ?? '';
      current = m[1];
    } else if (line.startsWith('#')) {
      if (/^# (HELP|TYPE) /.test(line)) throw new Error(`malformed ${where}`);
    } else if ((m = SAMPLE.exec(line))) {
      const name = m[1] ?? '';
      const base = current !== undefined && (SUFFIXES[family(current).type] ?? ['']).some((s) => name === current + s) ? current : name;
      if (base !== current) throw new Error(`sample outside its family block, ${where}`);
      const labels = parseLabels(m[2]);
      const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
      if (seen.has(key)) throw new Error(`duplicate sample, ${where}`);
      seen.add(key);
      family(base).samples.push({ name, labels, value: Number(m[3]) });
    } else {
      throw new Error(`not Prometheus text format, ${where}`);
    }
  });
  return families;
}

async function scrape(): Promise<Map<string, Family>> {
  const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(await res.text());
}

function value(m: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const f = m.get(name);
  if (f === undefined) throw new Error(`no metric ${name}`);
  const s = f.samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s?.value ?? 0;
}

// ---- tests ----

const HERALD_METRICS = [
  'herald_build_info', 'herald_ready', 'herald_memory_limit_bytes', 'herald_connections', 'herald_connections_limit',
  'herald_connections_opened_total', 'herald_connections_closed_total', 'herald_connections_shed_total',
  'herald_ws_messages_received_total', 'herald_ws_bytes_received_total', 'herald_ws_messages_sent_total',
  'herald_ws_bytes_sent_total', 'herald_client_events_total', 'herald_channels', 'herald_subscriptions',
  'herald_rest_requests_total', 'herald_auth_failures_total', 'herald_quota_messages_used', 'herald_quota_messages_limit',
  'herald_webhook_requests_total', 'herald_webhook_retries_total', 'herald_webhook_dropped_events_total',
  'herald_webhook_queue_events', 'herald_webhook_held_events', 'herald_config_reloads_total', 'herald_callback_faults_total', 'herald_address_limited_total',
];

describe('/metrics', () => {
  it('parses as Prometheus text, has every herald_ metric and the Node process metrics, and README documents each', async () => {
    const m = await scrape();
    const herald = [...m.keys()].filter((k) => k.startsWith('herald_')).sort();
    expect(herald).toEqual([...HERALD_METRICS].sort());
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
      expect(m.has(name), name).toBe(true);
    }
    for (const [name, f] of m) if (name.startsWith('herald_')) expect(f.help.length, `${name} HELP`).toBeGreaterThan(0);
    expect(m.get('nodejs_gc_duration_seconds')?.type).toBe('histogram');
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    for (const name of HERALD_METRICS) expect(readme, `README.md lists ${name}`).toContain(`\`${name}\``);
    expect(value(m, 'herald_ready')).toBe(1);
    expect(value(m, 'herald_quota_messages_limit', { app: 'other-app' })).toBe(5000);
    expect(value(m, 'herald_connections_limit', { app: 'other-app' })).toBe(7);
    expect(m.get('herald_build_info')?.samples[0]?.labels.version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('the Grafana dashboard queries only metrics that exist', async () => {
    const m = await scrape();
    const dashboard = readFileSync(new URL('../../grafana/herald-dashboard.json', import.meta.url), 'utf8');
    const exprs = (JSON.parse(dashboard) as { panels: Array<{ targets: Array<{ expr: string }> }> }).panels.flatMap((p) => p.targets.map((x) => x.expr));
    const used = new Set(exprs.flatMap((e) => e.match(/\b(?:herald|process|nodejs)_[a-z0-9_]+/g) ?? []));
    expect(used.size).toBeGreaterThan(20);
    for (const name of used) expect(m.has(name), `${name} in the dashboard`).toBe(true);
  });

  it('rejects what is not Prometheus text (the parser is strict)', () => {
    expect(() => parseExposition('# TYPE a counter\na{x="1} 1\n')).toThrow();
    expect(() => parseExposition('a 1 2 3\n')).toThrow();
    expect(() => parseExposition('a NotANumber\n')).toThrow();
    expect(() => parseExposition('# TYPE a counter\na 1\na 2\n')).toThrow(/duplicate/);
  });

  it('moves counters and gauges as connections, events, REST calls and auth failures flow', async () => {
    const app = { app: APP.id };
    const before = await scrape();

    const client = t.client();
    await connected(client);
    await subscribed(client, 'room');
    const { reader } = await rawConnect(t);
    reader.send({ event: 'pusher:subscribe', data: { channel: 'room' } });
    await reader.event('pusher_internal:subscription_succeeded');
    reader.send({ event: 'pusher:subscribe', data: { channel: 'private-x', auth: `${APP.key}:bad` } });
    await reader.event('pusher:subscription_error');

    const got = once((cb) => client.channel('room').bind('ev', cb), 'event on room');
    await t.sdk().trigger('room', 'ev', { n: 1 });
    const frame = await reader.event('ev');
    await got;
    await expect(t.sdk({ ...APP, secret: 'wrong-secret' }).trigger('room', 'ev', {})).rejects.toMatchObject({ status: 401 });
    expect((await fetch(`http://127.0.0.1:${t.port}/apps/${APP.id}/nope`)).status).toBe(404);

    const closing = new FrameReader(t.raw());
    await closing.event('pusher:connection_established');
    closing.ws.close(1000);
    await closing.waitClose();

    const after = await scrape();
    const delta = (name: string, labels: Record<string, string> = app): number => value(after, name, labels) - value(before, name, labels);
    expect(value(after, 'herald_connections', app)).toBe(2);
    expect(delta('herald_connections_opened_total')).toBe(3);
    expect(delta('herald_connections_closed_total', { ...app, code: '1000' })).toBe(1);
    expect(value(after, 'herald_channels', app)).toBe(1);
    expect(value(after, 'herald_subscriptions', app)).toBe(2);
    expect(delta('herald_ws_messages_sent_total')).toBe(2); // one publish, two recipients
    const frameText = JSON.stringify(frame);
    expect(delta('herald_ws_bytes_sent_total')).toBe(2 * frameText.length);
    expect(delta('herald_ws_messages_received_total')).toBeGreaterThanOrEqual(3);
    expect(delta('herald_ws_bytes_received_total')).toBeGreaterThan(100);
    expect(delta('herald_rest_requests_total', { ...app, endpoint: 'events', status: '200' })).toBe(1);
    expect(delta('herald_rest_requests_total', { ...app, endpoint: 'events', status: '401' })).toBe(1);
    expect(delta('herald_rest_requests_total', { app: 'unknown', endpoint: 'unknown', status: '404' })).toBe(1);
    expect(delta('herald_auth_failures_total', { ...app, kind: 'channel' })).toBe(1);
    expect(delta('herald_auth_failures_total', { ...app, kind: 'rest' })).toBe(1);
    expect(value(after, 'herald_quota_messages_used', app)).toBe(t.server.meter.used(APP.id));
    expect(delta('herald_quota_messages_used')).toBeGreaterThanOrEqual(3); // 1 REST call + 2 deliveries
  });

  it('counts webhook requests from the webhook sender', async () => {
    const sent = once((cb) => t.server.webhooks.stats.listen({ request: cb }), 'webhook request');
    const client = t.client({}, OTHER.key);
    await subscribed(client, 'lobby'); // channel_occupied
    await sent;
    const m = await scrape();
    expect(value(m, 'herald_webhook_requests_total', { app: OTHER.id, event: 'channel_occupied', outcome: 'success' })).toBe(1);
    expect(value(m, 'herald_webhook_dropped_events_total', { app: OTHER.id })).toBe(0);
  });
});
