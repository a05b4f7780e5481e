/**
 * TLS from tls.certFile/keyFile: a self-signed certificate for 127.0.0.1 made with openssl,
 * then a pusher-js client with forceTLS connects over wss:// and receives an event that the
 * `pusher` SDK publishes over https://. Certificate checks stay ON: the pusher-js client runs
 * in a child process with NODE_EXTRA_CA_CERTS naming the test certificate (pusher-js's Node
 * build opens its socket without a way to pass a CA), and the SDK gets an https.Agent with it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { Agent, get } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Pusher from 'pusher';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/herald-process.js';
import { APP, once, startServer, type TestServer } from '../helpers/server.js';

const dir = mkdtempSync(join(tmpdir(), 'herald-tls-'));
const cert = join(dir, 'cert.pem');
const key = join(dir, 'key.pem');
const openssl = spawnSync('openssl', ['version'], { encoding: 'utf8' });
const hasOpenssl = openssl.status === 0;
let t: TestServer;

beforeAll(async () => {
  if (!hasOpenssl) return;
  const r = spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
      '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`openssl could not make a test certificate: ${r.stderr}`);
  t = await startServer({ tls: { certFile: cert, keyFile: key } });
});
afterAll(() => t?.close());

function httpsGet(path: string, ca?: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port: t.port, path, ca }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
}

/** The client script run in the child: connect with forceTLS, subscribe, print what happens. */
const CLIENT = `
import Pusher from 'pusher-js';
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
const p = new Pusher(process.env.KEY, { cluster: 'mt1', wsHost: '127.0.0.1', wssPort: Number(process.env.PORT),
  forceTLS: true, enabledTransports: ['ws'], enableStats: false });
p.connection.bind('connected', () => out({ connected: p.connection.socket_id, url: p.connection.connection?.transport?.socket?.url ?? null, tls: p.connection.isUsingTLS() }));
p.connection.bind('error', (e) => out({ error: String(e?.error?.message ?? e?.type ?? e) }));
const ch = p.subscribe('secure');
ch.bind('pusher:subscription_succeeded', () => out({ subscribed: true }));
ch.bind('hello', (data) => { out({ event: data }); p.disconnect(); process.exit(0); });
setTimeout(() => { out({ timeout: true }); process.exit(1); }, 10000);
`;

describe.skipIf(!hasOpenssl)('TLS (skipped when the openssl CLI is not installed: it makes the test certificate)', () => {
  it('serves https:// with the configured certificate, verified against it as the CA', async () => {
    const ca = readFileSync(cert);
    expect(await httpsGet('/health', ca)).toBe(200);
    await expect(httpsGet('/health')).rejects.toThrow(/self[- ]signed/i);
  });

  it('refuses plain ws:// on the TLS port', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${t.port}/app/${APP.key}?protocol=7`);
    await expect(once((cb) => ws.on('error', cb), 'ws error')).resolves.toBeInstanceOf(Error);
  });

  it('lets a pusher-js client connect over wss:// and receive an event published over https://', async () => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', CLIENT], {
      cwd: ROOT,
      env: { ...process.env, NODE_EXTRA_CA_CERTS: cert, KEY: APP.key, PORT: String(t.port) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines: Array<Record<string, unknown>> = [];
    const waiters = new Set<() => void>();
    child.stdout.setEncoding('utf8');
    let partial = '';
    child.stdout.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const l of parts) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      for (const w of [...waiters]) w();
    });
    const seen = (pred: (l: Record<string, unknown>) => boolean, what: string): Promise<Record<string, unknown>> =>
      once((cb) => {
        const check = (): void => {
          const hit = lines.find(pred);
          if (hit === undefined) return;
          waiters.delete(check);
          cb(hit);
        };
        waiters.add(check);
        check();
      }, what, 10_000);
    const subscribedLine = seen((l) => l.subscribed === true || l.timeout === true, 'subscribed over wss');
    expect(await subscribedLine).toEqual({ subscribed: true });
    const connectedLine = lines.find((l) => 'connected' in l);
    expect(connectedLine?.tls).toBe(true);
    expect(String(connectedLine?.url)).toMatch(/^wss:\/\/127\.0\.0\.1:/);

    const sdk = new Pusher({
      appId: APP.id, key: APP.key, secret: APP.secret, host: '127.0.0.1', port: String(t.port), useTLS: true,
      agent: new Agent({ ca: readFileSync(cert) }),
    });
    const event = seen((l) => 'event' in l || l.timeout === true, 'event over wss');
    await sdk.trigger('secure', 'hello', { over: 'tls' });
    expect(await event).toEqual({ event: { over: 'tls' } });
    const code = await once<number | null>((cb) => child.on('exit', cb), 'client exit');
    expect(code).toBe(0);
  });
});
