/**
 * Health, readiness, memory shedding and shutdown sequencing on a real in-process server:
 * liveness and readiness on both ports, readiness false and new connections shed with 4100
 * above memoryLimitBytes (and back after a reload lifts the limit), readiness false during the
 * shutdown drain while clients are still connected, then 4200 and a closed metrics port.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/config.js';
import { APP, connected, FrameReader, once, rawConnect, startServer, type TestServer } from '../helpers/server.js';

const opened: TestServer[] = [];
afterEach(async () => {
  for (const t of opened.splice(0)) await t.close();
});

async function start(raw: Record<string, unknown>): Promise<TestServer & { metricsPort: number }> {
  const t = await startServer({ metricsEnabled: true, metricsPort: 0, ...raw });
  opened.push(t);
  return Object.assign(t, { metricsPort: t.server.metricsServer?.port ?? 0 });
}

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
}

describe('health endpoints', () => {
  it('answers liveness and readiness on the main port and the metrics port', async () => {
    const t = await start({});
    for (const port of [t.port, t.metricsPort]) {
      expect(await get(port, '/health')).toEqual({ status: 200, body: 'OK\n' });
      expect(await get(port, '/ready')).toEqual({ status: 200, body: 'READY\n' });
    }
    expect((await get(t.metricsPort, '/nope')).status).toBe(404);
  });
});

describe('memory threshold', () => {
  it('fails readiness and sheds new connections with 4100 above memoryLimitBytes, and recovers when a reload lifts it', async () => {
    const t = await start({ memoryLimitBytes: 1 }); // any process is above 1 byte
    expect(await get(t.port, '/ready')).toEqual({ status: 503, body: 'NOT READY: memory\n' });
    expect((await get(t.port, '/health')).status).toBe(200);

    const reader = new FrameReader(t.raw());
    const err = await reader.event('pusher:error');
    expect((err.data as { code: number }).code).toBe(4100);
    expect((await reader.waitClose()).code).toBe(4100);
    const metrics = await get(t.metricsPort, '/metrics');
    expect(metrics.body).toMatch(/^herald_connections_shed_total 1$/m);
    expect(metrics.body).toMatch(/^herald_ready 0$/m);

    t.server.reload(parseConfig({ ...t.config, memoryLimitBytes: 0 }, 'reloaded test config'));
    expect((await get(t.port, '/ready')).status).toBe(200);
    await rawConnect(t); // admitted again
  });
});

describe('graceful stop', () => {
  it('reports not ready while draining, keeps clients until the drain delay ends, then closes them with 4200', async () => {
    const t = await start({ shutdownDrainDelaySec: 1, shutdownGraceSec: 5 });
    const client = t.client();
    await connected(client);
    const kicked = once<{ data?: { code?: number } }>((cb) => client.connection.bind('error', cb), 'pusher:error 4200');

    const stopping = t.server.stop();
    const ready = await get(t.port, '/ready');
    expect(ready).toEqual({ status: 503, body: 'NOT READY: draining\n' });
    expect((await get(t.metricsPort, '/ready')).status).toBe(503);
    expect(client.connection.state).toBe('connected');

    expect((await kicked).data?.code).toBe(4200);
    const result = await stopping;
    expect(result.incomplete).toEqual([]);
    expect(result.elapsedMs).toBeLessThan(5000);
    await expect(fetch(`http://127.0.0.1:${t.metricsPort}/ready`)).rejects.toThrow();
    expect(t.server.stop()).toBe(stopping); // idempotent
  });

  it('ends within shutdownGraceSec even when the drain delay is longer, and still runs the final steps', async () => {
    const t = await start({ shutdownDrainDelaySec: 30, shutdownGraceSec: 1 });
    const { reader } = await rawConnect(t);
    const result = await t.server.stop();
    expect(result.elapsedMs).toBeLessThan(1500);
    expect((await reader.waitClose()).code).toBe(4200);
    await expect(fetch(`http://127.0.0.1:${t.metricsPort}/ready`)).rejects.toThrow();
  });

  it('closes the listen socket: a connection attempted after stop is refused', async () => {
    const t = await start({});
    await t.server.stop();
    await expect(rawConnectOrFail(t)).resolves.toBe('refused');
  });
});

/** After stop the listen socket is closed: a new WebSocket cannot connect at all. */
function rawConnectOrFail(t: TestServer): Promise<string> {
  const ws = t.raw(`/app/${APP.key}?protocol=7`);
  return new Promise((resolve) => {
    ws.on('open', () => resolve('opened'));
    ws.on('error', () => resolve('refused'));
  });
}
