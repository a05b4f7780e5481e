/**
 * The uWebSockets.js loader's choice: the real machine first (here: Node 20 on glibc 2.36, where
 * only the trufflesuite build is native), then simulated machines through an injected require —
 * one build failing picks the other, the pure-JS fallback is refused unless allowed, and nothing
 * native yields a refusal naming Node, glibc and what to do.
 */
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { buildOrder, chooseUws, currentHost, describeChoice, isNative, loadUws, NativeUwsUnavailable, probeUws, type UwsHost } from '../../src/transport/uws-load.js';

const BTC = '@btc-vision/uwebsockets.js';
const TRUFFLE = 'uWebSockets.js';
/** A stand-in with the shape the native check looks at. */
const NATIVE = { App: Math.max, getParts: Math.min };
const FALLBACK = { App: function App(): void {} };

function host(modules: Record<string, unknown | Error>, over: Partial<UwsHost> = {}): UwsHost & { required: string[] } {
  const required: string[] = [];
  return {
    required,
    require(id: string): unknown {
      required.push(id);
      const m = modules[id];
      if (m === undefined) throw new Error(`Cannot find module '${id}'`);
      if (m instanceof Error) throw m;
      return m;
    },
    nodeVersion: 'v22.12.0',
    abi: '127',
    platform: 'linux',
    arch: 'x64',
    glibc: '2.39',
    forceFallback: false,
    ...over,
  };
}

const GLIBC_ERROR = new Error(
  'This version of uWS.js (v20.57.0) supports only Node.js versions 20, 22, 24 and 25 ...\n\n' +
    "Error: /lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.38' not found (required by uws_linux_x64_127.node)",
);

describe('this machine', () => {
  const here = currentHost({});
  const nodeNow = Number(process.versions.node.split('.')[0]);
  const oldGlibc = here.glibc !== undefined && Number(here.glibc.split('.')[1]) < 38;

  it.runIf(nodeNow === 20 && oldGlibc)('Node 20 on glibc < 2.38: the trufflesuite build is chosen, native', () => {
    const choice = chooseUws(false, here);
    expect(choice.build.name).toBe('trufflesuite');
    expect(choice.native).toBe(true);
    expect(isNative(choice.uws)).toBe(true);
    expect(describeChoice(choice)).toBe('trufflesuite 20.30.0-unofficial.0 (native)');
  });

  it.runIf(oldGlibc)('the btc-vision build fails to load on glibc < 2.38, naming the missing glibc', () => {
    const probe = probeUws({ ...here, nodeVersion: 'v22.0.0' }); // btc-vision first
    expect(probe.attempts[0]).toMatchObject({ build: { name: 'btc-vision' }, outcome: 'failed' });
    expect(probe.attempts[0]?.error).toMatch(/GLIBC_2\.38/);
  });

  it('whatever the machine, a native build is chosen or the refusal names Node and glibc', () => {
    try {
      expect(chooseUws(false, here).native).toBe(true);
    } catch (err) {
      expect(err).toBeInstanceOf(NativeUwsUnavailable);
      expect((err as Error).message).toContain(process.version);
    }
  });

  it('UWS_USE_FALLBACK=1 tries only the trufflesuite build (which then serves pure JS: see cli.test.ts)', () => {
    expect(buildOrder(currentHost({ UWS_USE_FALLBACK: '1' })).map((b) => b.name)).toEqual(['trufflesuite']);
    expect(buildOrder(currentHost({ UWS_USE_FALLBACK: 'true' })).map((b) => b.name)).toEqual(['trufflesuite']);
  });
});

describe('order', () => {
  it('Node ≤ 20 tries trufflesuite first; Node ≥ 21 tries btc-vision first', () => {
    expect(buildOrder(host({}, { nodeVersion: 'v20.19.0' })).map((b) => b.name)).toEqual(['trufflesuite', 'btc-vision']);
    for (const v of ['v22.12.0', 'v24.1.0', 'v25.0.0']) {
      expect(buildOrder(host({}, { nodeVersion: v })).map((b) => b.name)).toEqual(['btc-vision', 'trufflesuite']);
    }
  });

  it('stops at the first native build without loading the next', () => {
    const h = host({ [BTC]: NATIVE, [TRUFFLE]: NATIVE }, { nodeVersion: 'v20.19.0' });
    expect(chooseUws(false, h).build.name).toBe('trufflesuite');
    expect(h.required).toEqual([TRUFFLE]);
  });
});

describe('a build that fails picks the other', () => {
  it('Node 22, btc-vision native: chosen', () => {
    expect(chooseUws(false, host({ [BTC]: NATIVE, [TRUFFLE]: FALLBACK })).build.name).toBe('btc-vision');
  });

  it('Node 20, trufflesuite throws: btc-vision is chosen', () => {
    const h = host({ [BTC]: NATIVE, [TRUFFLE]: new Error('boom') }, { nodeVersion: 'v20.19.0', abi: '115' });
    const choice = chooseUws(false, h);
    expect(choice.build.name).toBe('btc-vision');
    expect(choice.attempts.map((a) => a.outcome)).toEqual(['failed', 'native']);
  });

  it('Node 20, btc-vision not installed (optional) or glibc too old: trufflesuite is chosen', () => {
    const h = host({ [BTC]: GLIBC_ERROR, [TRUFFLE]: NATIVE }, { nodeVersion: 'v20.19.0', abi: '115', glibc: '2.36' });
    expect(chooseUws(false, h)).toMatchObject({ native: true, build: { name: 'trufflesuite' } });
    expect(chooseUws(false, host({ [TRUFFLE]: NATIVE }, { nodeVersion: 'v20.19.0' })).build.name).toBe('trufflesuite');
  });

  it('a build whose load succeeds with the pure-JS server is passed over for a native one', () => {
    const h = host({ [BTC]: NATIVE, [TRUFFLE]: FALLBACK }, { nodeVersion: 'v20.19.0' });
    expect(chooseUws(false, h)).toMatchObject({ native: true, build: { name: 'btc-vision' } });
  });
});

describe('none native', () => {
  const h = host({ [BTC]: GLIBC_ERROR, [TRUFFLE]: FALLBACK }, { nodeVersion: 'v24.3.0', abi: '137', glibc: '2.36' });

  it('refuses with a message naming the Node version, the glibc version, each build and what to do', () => {
    let message = '';
    try {
      chooseUws(false, h);
    } catch (err) {
      expect(err).toBeInstanceOf(NativeUwsUnavailable);
      message = (err as Error).message;
    }
    expect(message).toMatch(/native binary did not load.*Refusing to start/);
    expect(message).toContain('Node v24.3.0 (ABI 137) on linux-x64 (glibc 2.36)');
    expect(message).toContain("btc-vision 20.57.0: failed (Error: /lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.38' not found");
    expect(message).toContain('trufflesuite 20.30.0-unofficial.0: no native binary, pure-JS fallback only');
    expect(message).toMatch(/use Node 20 on an older glibc/);
    expect(message).toMatch(/glibc ≥ 2\.38/);
    expect(message).toMatch(/HERALD_ALLOW_UWS_FALLBACK=1/);
  });

  it('runs on the fallback when allowed, with a warning naming the build', () => {
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (l: string) => lines.push(l) });
    const choice = loadUws(true, logger, h);
    expect(describeChoice(choice)).toBe('trufflesuite 20.30.0-unofficial.0 (pure-JS fallback)');
    expect(lines.join('')).toMatch(/allowUwsFallback is set/);
  });

  it('nothing loads at all (not even the fallback): refused even when the fallback is allowed', () => {
    const none = host({ [BTC]: new Error('x'), [TRUFFLE]: new Error('y') }, { platform: 'linux', glibc: undefined, nodeVersion: 'v22.1.0' });
    expect(() => chooseUws(true, none)).toThrow(/Node v22\.1\.0 .*\(not glibc\).*Refusing to start/);
  });
});
