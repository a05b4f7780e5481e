/**
 * `herald doctor` as a user runs it (the built CLI): a healthy config prints every check and exits
 * 0; each kind of problem (config error, too few file descriptors, unwritable stateDir, Redis not
 * answering, no native uWS) is a FAIL line naming it and exit 1; a stateDir locked by a live
 * process is reported without failing.
 */
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { REDIS_URL, redisAvailable } from '../helpers/redis.js';
import { formatDoctor, openFileLimits, runDoctor, type UwsSummary } from '../../src/ops/doctor.js';

const dir = mkdtempSync(join(tmpdir(), 'herald-doctor-'));
const secret = 'Qj7wXv3KpL9mZt2RbY6n';
const hasRedis = await redisAvailable();

function config(name: string, over: Record<string, unknown> = {}): string {
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify({ maxConnections: 100, stateDir: join(dir, `${name}-state`), apps: [{ id: 'a', key: 'k', secret }], ...over }));
  return file;
}

function line(stdout: string, name: string): string {
  return stdout.split('\n').find((l) => new RegExp(`^\\S*\\s+${name}\\s`).test(l)) ?? `(no ${name} line in:\n${stdout})`;
}

describe('herald doctor (built CLI)', () => {
  it('a healthy config: Node, platform, glibc, the uWS build, file limit, stateDir; exit 0', () => {
    const r = runCli(['doctor', '--config', config('healthy')]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(line(r.stdout, 'node')).toContain(process.version);
    expect(line(r.stdout, 'platform')).toContain(`${process.platform} ${process.arch}`);
    expect(line(r.stdout, 'platform')).toMatch(/glibc \d+\.\d+|no glibc/);
    expect(line(r.stdout, 'uws')).toMatch(/^ok\s+uws\s+(trufflesuite|btc-vision) \S+, native/);
    if (process.platform === 'linux') expect(line(r.stdout, 'open files')).toMatch(/^ok\s+open files\s+\d+ \(hard \d+\) ≥ maxConnections 100 /);
    expect(line(r.stdout, 'stateDir')).toMatch(/^ok\s+stateDir .*does not exist yet; it will be created/);
    expect(r.stdout).not.toMatch(/redis/);
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('no problems found');
  });

  it('a config error is a problem, and the other checks that need the config are skipped', () => {
    const r = runCli(['doctor', '--config', config('bad', { port: 'x' })]);
    expect(r.status).toBe(1);
    expect(line(r.stdout, 'config')).toMatch(/^FAIL\s+config\s+.*bad\.json.*port/);
    expect(line(r.stdout, 'uws')).toMatch(/native/);
    expect(r.stdout).not.toMatch(/open files|stateDir/);
    expect(r.stdout).toMatch(/1 problem found\s*$/);
  });

  it.runIf(process.platform === 'linux')('maxConnections above the open file limit is a problem', () => {
    const r = runCli(['doctor', '--config', config('fds', { maxConnections: 2_000_000_000 })]);
    expect(r.status).toBe(1);
    expect(line(r.stdout, 'open files')).toMatch(/^FAIL\s+open files\s+\d+ \(hard \d+\) < maxConnections 2000000000 .*LimitNOFILE/);
  });

  it('an existing stateDir: writable, and its lock held by a live process is reported without failing', () => {
    const state = join(dir, 'locked-state');
    mkdirSync(state);
    writeFileSync(join(state, 'herald.lock'), `${process.pid}\n`);
    const r = runCli(['doctor', '--config', config('locked', { stateDir: state })]);
    expect(r.status).toBe(0);
    expect(line(r.stdout, 'stateDir')).toMatch(/^ok\s+stateDir\s+.*is writable/);
    expect(line(r.stdout, 'lock')).toMatch(new RegExp(`^WARN\\s+lock\\s+.*held by live pid ${process.pid}`));

    writeFileSync(join(state, 'herald.lock'), '999999999\n');
    expect(line(runCli(['doctor', '--config', config('locked', { stateDir: state })]).stdout, 'lock')).toMatch(/^ok\s+lock\s+.*stale \(pid 999999999 is not running\)/);
  });

  it.runIf(process.getuid?.() !== 0)('a stateDir that cannot be written is a problem', () => {
    const state = join(dir, 'readonly-state');
    mkdirSync(state);
    chmodSync(state, 0o500);
    const r = runCli(['doctor', '--config', config('readonly', { stateDir: state })]);
    expect(r.status).toBe(1);
    expect(line(r.stdout, 'stateDir')).toMatch(/^FAIL\s+stateDir\s+.*is not writable/);
  });

  it('Redis that does not answer is a problem, within the bound, its password masked', () => {
    const started = Date.now();
    const r = runCli(['doctor', '--config', config('noredis', { adapter: { driver: 'redis', redisUrl: 'redis://:hunter2@127.0.0.1:1' } })]);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(r.status).toBe(1);
    expect(line(r.stdout, 'redis')).toMatch(/^FAIL\s+redis\s+redis:\/\/:\*\*\*\*@127\.0\.0\.1:1 does not answer: .*ECONNREFUSED/);
    expect(r.stdout).not.toContain('hunter2');
  });

  it.skipIf(!hasRedis)(`Redis that answers (${REDIS_URL}) is ok`, () => {
    const r = runCli(['doctor', '--config', config('redis', { adapter: { driver: 'redis', redisUrl: REDIS_URL } })]);
    expect(r.status).toBe(0);
    expect(line(r.stdout, 'redis')).toMatch(/^ok\s+redis\s+.* answered PONG in \d+ ms/);
  });
});

describe('doctor checks with a simulated machine', () => {
  const none: UwsSummary = { nodeVersion: 'v24.3.0', abi: '137', platform: 'linux', arch: 'x64', glibc: '2.36', build: 'trufflesuite 20.30.0-unofficial.0', native: false, tried: 'btc-vision 20.57.0: failed (GLIBC_2.38 not found); trufflesuite 20.30.0-unofficial.0: no native binary, pure-JS fallback only' };

  it('no native uWS is a problem naming Node and what runs natively; allowed fallback is a warning', async () => {
    const checks = await runDoctor({ configFile: config('sim'), env: {}, probeUws: () => none, readLimits: async () => undefined });
    const out = formatDoctor(checks);
    expect(line(out, 'uws')).toMatch(/^FAIL\s+uws\s+no native uWebSockets\.js for Node v24\.3\.0 .*GLIBC_2\.38.*glibc ≥ 2\.38/);
    expect(line(out, 'platform')).toContain('glibc 2.36');
    expect(line(out, 'open files')).toMatch(/limit unknown here/);
    const allowed = formatDoctor(await runDoctor({ configFile: config('sim-allowed', { allowUwsFallback: true }), env: {}, probeUws: () => none }));
    expect(line(allowed, 'uws')).toMatch(/^WARN\s+uws\s+trufflesuite 20\.30\.0-unofficial\.0, pure-JS fallback/);
  });

  it('reads the soft and hard open file limits from /proc/self/limits', () => {
    const text = 'Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n';
    expect(openFileLimits(text)).toEqual({ soft: 1024, hard: 524288 });
    expect(openFileLimits('nothing')).toBeUndefined();
  });
});
