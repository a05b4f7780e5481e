/**
 * Loads the uWebSockets.js build that runs natively here. Two builds are installed:
 *
 * - `btc-vision`: `@btc-vision/uwebsockets.js` (optional dependency), binaries for Node 20, 22, 24
 *   and 25 (ABIs 115/127/137/141) on Linux x64/arm64, macOS and Windows; on Linux it needs
 *   glibc ≥ 2.38 (Debian 13, Ubuntu 24.04) and throws on older glibc.
 * - `trufflesuite`: `uWebSockets.js` (npm alias of `@trufflesuite/uws-js-unofficial`), binaries
 *   for Node 16/18/20 (ABIs 93/108/115) with older glibc too; elsewhere it silently returns a
 *   slow pure-JS server instead (also when UWS_USE_FALLBACK=1).
 *
 * Order: on Node ≤ 20 the trufflesuite build first (the build Herald's tests have always run on),
 * btc-vision second; on Node ≥ 21 btc-vision first (trufflesuite has no binary there). The first
 * build whose binary is native wins. UWS_USE_FALLBACK=1 tries only the trufflesuite build, so it
 * forces the pure-JS server on every machine. The pure-JS server is refused unless allowed
 * (allowUwsFallback); when nothing native loads the refusal names Node, glibc and what to do.
 * The only other importers of uWebSockets.js are the rest of src/transport/.
 */
import type { UwsSummary } from '../ops/doctor.js';
import { createRequire } from 'node:module';
import type * as UwsTypes from 'uWebSockets.js';
import type { Logger } from '../log.js';

export type Uws = typeof UwsTypes;

export class NativeUwsUnavailable extends Error {}

export interface UwsBuild {
  readonly name: 'btc-vision' | 'trufflesuite';
  /** What to require(). */
  readonly module: string;
  readonly version: string;
}

export const UWS_BUILDS: readonly UwsBuild[] = [
  { name: 'btc-vision', module: '@btc-vision/uwebsockets.js', version: '20.57.0' },
  { name: 'trufflesuite', module: 'uWebSockets.js', version: '20.30.0-unofficial.0' },
];

/** The machine as the loader sees it; injectable so the choice is testable anywhere. */
export interface UwsHost {
  require(id: string): unknown;
  /** process.version, e.g. v20.20.2. */
  nodeVersion: string;
  /** process.versions.modules: the ABI the binary must match. */
  abi: string;
  platform: string;
  arch: string;
  /** The C library's version on glibc Linux; undefined elsewhere (musl, macOS, Windows). */
  glibc: string | undefined;
  /** UWS_USE_FALLBACK is set: only the trufflesuite build, which then serves pure JS. */
  forceFallback: boolean;
}

export interface UwsAttempt {
  build: UwsBuild;
  outcome: 'native' | 'fallback' | 'failed';
  /** Why it failed: the load error's last line. */
  error?: string;
}

/** What was loaded: the module, which build it came from and whether its binary is native. */
export interface UwsChoice {
  uws: Uws;
  build: UwsBuild;
  native: boolean;
  attempts: UwsAttempt[];
  host: UwsHost;
}

/** The result of trying every build: the choice (undefined when none loaded at all). */
export interface UwsProbe {
  choice: UwsChoice | undefined;
  attempts: UwsAttempt[];
  host: UwsHost;
}

/** glibc is read only when asked (refusal, doctor): process.report.getReport() takes ~10 ms. */
export function currentHost(env: NodeJS.ProcessEnv = process.env): UwsHost {
  return {
    require: createRequire(import.meta.url),
    nodeVersion: process.version,
    abi: process.versions.modules,
    platform: process.platform,
    arch: process.arch,
    get glibc(): string | undefined {
      return (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime;
    },
    forceFallback: /^(1|true)$/i.test(env.UWS_USE_FALLBACK ?? ''),
  };
}

export function nodeMajor(nodeVersion: string): number {
  return Number(/^v?(\d+)/.exec(nodeVersion)?.[1] ?? 0);
}

/** The builds to try, best first (see the file comment). */
export function buildOrder(host: UwsHost): UwsBuild[] {
  const [btc, truffle] = UWS_BUILDS as [UwsBuild, UwsBuild];
  if (host.forceFallback) return [truffle];
  return nodeMajor(host.nodeVersion) <= 20 ? [truffle, btc] : [btc, truffle];
}

/** The pure-JS fallback exports a plain JS App and no getParts. */
export function isNative(uws: unknown): boolean {
  const m = uws as { getParts?: unknown; App?: unknown };
  return typeof m.getParts === 'function' && /\[native code\]/.test(String(m.App));
}

function lastLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  return (lines.at(-1) ?? 'unknown error').slice(0, 300);
}

/** Tries the builds in order; stops at the first native one. Never throws. */
export function probeUws(host: UwsHost = currentHost()): UwsProbe {
  const attempts: UwsAttempt[] = [];
  let fallback: { uws: Uws; build: UwsBuild } | undefined;
  for (const build of buildOrder(host)) {
    let uws: Uws;
    try {
      uws = host.require(build.module) as Uws;
    } catch (err) {
      attempts.push({ build, outcome: 'failed', error: lastLine(err) });
      continue;
    }
    if (isNative(uws)) {
      attempts.push({ build, outcome: 'native' });
      return { choice: { uws, build, native: true, attempts, host }, attempts, host };
    }
    attempts.push({ build, outcome: 'fallback' });
    fallback ??= { uws, build };
  }
  const choice = fallback && { ...fallback, native: false, attempts, host };
  return { choice, attempts, host };
}

/** One line: "trufflesuite 20.30.0-unofficial.0 (native)". */
export function describeChoice(choice: Pick<UwsChoice, 'build' | 'native'>): string {
  return `${choice.build.name} ${choice.build.version} (${choice.native ? 'native' : 'pure-JS fallback'})`;
}

export function describeAttempts(attempts: UwsAttempt[]): string {
  return attempts
    .map((a) => `${a.build.name} ${a.build.version}: ${a.outcome === 'failed' ? `failed (${a.error ?? ''})` : a.outcome === 'fallback' ? 'no native binary, pure-JS fallback only' : 'native'}`)
    .join('; ');
}

function refusal(probe: UwsProbe): string {
  const { host } = probe;
  const glibc = host.glibc === undefined ? 'not glibc' : `glibc ${host.glibc}`;
  const fallback = probe.choice ? '; only the slow pure-JS fallback is available' : '';
  return (
    `uWebSockets.js native binary did not load for Node ${host.nodeVersion} (ABI ${host.abi}) on ${host.platform}-${host.arch} (${glibc})${fallback}. ` +
    `Refusing to start. Tried: ${describeAttempts(probe.attempts)}. ` +
    'Herald runs natively on Node 20 (Linux x64/arm64 with any glibc, macOS, Windows) and on Node 22, 24 and 25 ' +
    'with glibc ≥ 2.38 (Debian 13, Ubuntu 24.04), macOS or Windows: use Node 20 on an older glibc, or a newer ' +
    'distribution for Node 22/24, and install with optional dependencies (npm ci without --omit=optional). ' +
    (probe.choice ? 'Or set allowUwsFallback: true / HERALD_ALLOW_UWS_FALLBACK=1 to run slowly anyway.' : '')
  ).trim();
}

/**
 * The build to serve on. `allowFallback`: run on the pure-JS fallback anyway (allowUwsFallback).
 * Throws NativeUwsUnavailable when nothing native loads and the fallback is not allowed.
 */
export function chooseUws(allowFallback: boolean, host: UwsHost = currentHost()): UwsChoice {
  const probe = probeUws(host);
  if (probe.choice?.native === true || (probe.choice !== undefined && allowFallback)) return probe.choice;
  throw new NativeUwsUnavailable(refusal(probe));
}

/** chooseUws for the server: warns when it runs on the fallback. */
export function loadUws(allowFallback: boolean, logger: Logger, host?: UwsHost): UwsChoice {
  const choice = chooseUws(allowFallback, host);
  if (!choice.native) {
    logger.warn(
      { uws: describeChoice(choice), tried: describeAttempts(choice.attempts) },
      'uWebSockets.js native binary did not load for this platform/Node version; running on the slow pure-JS fallback because allowUwsFallback is set. Performance will be poor.',
    );
  }
  return choice;
}

/** The probe as plain data, for `herald doctor` (src/ops/doctor.ts UwsSummary). */
export function summarizeUws(probe: UwsProbe = probeUws()): UwsSummary {
  const { host, choice } = probe;
  return {
    nodeVersion: host.nodeVersion,
    abi: host.abi,
    platform: host.platform,
    arch: host.arch,
    glibc: host.glibc,
    build: choice && `${choice.build.name} ${choice.build.version}`,
    native: choice?.native === true,
    tried: describeAttempts(probe.attempts),
  };
}
