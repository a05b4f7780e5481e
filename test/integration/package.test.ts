/**
 * The installable package as a user meets it: `npm pack` (its prepack builds), the tarball
 * installed into an empty folder with `npm install --omit=dev`, then `npx herald start`
 * serving a pusher-js client and stopping cleanly on SIGTERM.
 *
 * The pack runs in a staging copy of the checkout (package.json, README/LICENSE, tsconfigs,
 * src/, scripts/, node_modules linked), not in the checkout itself: prepack rebuilds dist/src/,
 * which other test files running in parallel execute (test/helpers/cli.ts). Everything the
 * `files` whitelist can ship outside dist/ is copied, so the file list is the one a real
 * `npm pack` here produces. Child npm processes get no npm_* variables from the `npm test`
 * that runs this (npm_config_local_prefix would point them at the checkout).
 */
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Pusher from 'pusher';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { connected, once, PusherClient, type PusherJS } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const TEST_TIMEOUT_MS = 180_000; // measured ~31 s alone, 40-50 s in a full `npm test` (pack runs a full tsc, then npm install)
const APP = { id: 'pkg-app', key: 'pkg-key', secret: 'pkg-secret-0123456789abcdef' } as const;

const work = mkdtempSync(join(tmpdir(), 'herald-package-'));
let child: ChildProcess | undefined;
let client: PusherJS | undefined;
let heraldPid: number | undefined;

afterAll(async () => {
  client?.disconnect();
  // On a failure npx may be gone while herald still runs in its process group (npx, the shell,
  // node): kill the group and wait for herald, so nothing writes into `work` after it is removed.
  if (child?.pid !== undefined) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* the group has exited */
    }
  }
  if (heraldPid !== undefined) await waitFor(() => !alive(heraldPid as number), 'herald to exit', 5000).catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The environment minus what `npm test` sets for its own scripts. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) && k !== 'INIT_CWD') env[k] = v;
  return env;
}

function run(cmd: string, args: string[], cwd: string, timeoutMs: number): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, env: cleanEnv(), encoding: 'utf8', timeout: timeoutMs });
  if (r.status !== 0) {
    throw new Error(`\`${cmd} ${args.join(' ')}\` in ${cwd} failed (${r.error?.message ?? `exit ${r.status}, signal ${r.signal}`}):\n${r.stdout}\n${r.stderr}`);
  }
  return r;
}

interface PackResult {
  filename: string;
  files: Array<{ path: string; mode: number }>;
}

function stageCheckout(stage: string): void {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files?: string[] };
  const copy = new Set(['package.json', 'tsconfig.json', 'tsconfig.build.json', 'src', 'scripts']);
  for (const name of readdirSync(ROOT)) if (/^(readme|licen[cs]e|notice|changelog)/i.test(name)) copy.add(name); // npm ships these always
  for (const entry of pkg.files ?? []) if (!entry.startsWith('dist') && !/[*?[]/.test(entry)) copy.add(entry.replace(/\/+$/, ''));
  for (const name of copy) if (existsSync(join(ROOT, name))) cpSync(join(ROOT, name), join(stage, name), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(stage, 'node_modules'), 'dir');
}

describe('the npm package', () => {
  it(
    'packs built JavaScript only, installs without devDependencies or a build, and `npx herald start` serves pusher-js and stops on SIGTERM',
    async () => {
      // npm pack (prepack builds) in a staging copy of the checkout.
      const stage = join(work, 'stage');
      const out = join(work, 'out');
      mkdirSync(stage);
      mkdirSync(out);
      stageCheckout(stage);
      const packed = run('npm', ['pack', '--json', '--pack-destination', out], stage, 120_000);
      const [pack] = JSON.parse(packed.stdout) as PackResult[];
      if (pack === undefined) throw new Error(`npm pack printed no result:\n${packed.stdout}`);
      const paths = pack.files.map((f) => f.path);

      expect(paths).toContain('package.json');
      expect(paths).toContain('README.md');
      expect(paths).toContain('dist/src/main.js');
      expect(paths).toContain('dist/src/server.js');
      expect(paths.filter((p) => /^(test|bench|src|dist\/test)\//.test(p) || /\.test\.|\.ts$|\.map$/.test(p))).toEqual([]);
      expect(paths.filter((p) => !/^dist\/src\/.+\.js$/.test(p) && !/^(package\.json|README\.md|LICEN[CS]E(\.\w+)?)$/i.test(p))).toEqual([]);
      const main = pack.files.find((f) => f.path === 'dist/src/main.js');
      expect((main?.mode ?? 0) & 0o111, 'dist/src/main.js is executable in the tarball').toBe(0o111);
      expect(readFileSync(join(stage, 'dist/src/main.js'), 'utf8')).toMatch(/^#!\/usr\/bin\/env node\n/);

      // Installed into an empty folder: runtime dependencies only, no build, no sources.
      const app = join(work, 'app');
      mkdirSync(app);
      writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'herald-package-test', private: true }));
      run('npm', ['install', '--no-audit', '--no-fund', '--omit=dev', '--prefer-offline', join(out, pack.filename)], app, 90_000);
      const nm = join(app, 'node_modules');
      expect(existsSync(join(nm, 'herald/dist/src/main.js'))).toBe(true);
      expect(existsSync(join(nm, 'herald/src'))).toBe(false);
      const installed = JSON.parse(readFileSync(join(nm, 'herald/package.json'), 'utf8')) as { scripts?: Record<string, string> };
      for (const hook of ['preinstall', 'install', 'postinstall', 'prepare']) expect(installed.scripts?.[hook], `no ${hook} script runs at install`).toBeUndefined();
      for (const dev of ['typescript', 'vitest', 'pusher-js', 'pusher', 'dependency-cruiser', 'fast-check', '@types/node']) {
        expect(existsSync(join(nm, dev)), `devDependency ${dev} is not installed`).toBe(false);
      }
      for (const dep of ['pino', 'zod', 'uWebSockets.js']) expect(existsSync(join(nm, dep)), `dependency ${dep} is installed`).toBe(true);

      // npx herald start with its own config: port 0, its own stateDir, no metrics port.
      const config = join(work, 'herald.json');
      writeFileSync(config, JSON.stringify({ port: 0, metricsEnabled: false, stateDir: join(work, 'state'), apps: [APP] }));
      const proc = spawn('npx', ['--no', '--', 'herald', 'start', '--config', config], {
        cwd: app,
        env: cleanEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      child = proc;
      let stdout = '';
      let stderr = '';
      proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        proc.on('exit', (code, signal) => resolve({ code, signal })),
      );
      const { port, pid } = await new Promise<{ port: number; pid: number }>((resolve, reject) => {
        const fail = (why: string): void => reject(new Error(`${why}\nstdout:\n${stdout}\nstderr:\n${stderr}`));
        const timer = setTimeout(() => fail('no "herald listening" log line within 30 s'), 30_000);
        proc.stdout?.on('data', (d: Buffer) => {
          stdout += d.toString();
          const line = stdout.split('\n').slice(0, -1).find((l) => l.includes('"herald listening"'));
          if (line === undefined) return;
          clearTimeout(timer);
          resolve(JSON.parse(line) as { port: number; pid: number });
        });
        void exited.then(({ code, signal }) => {
          clearTimeout(timer);
          fail(`npx herald start exited (code ${code}, signal ${signal}) before listening`);
        });
      });
      expect(port).toBeGreaterThan(0);
      heraldPid = pid;
      expect(pid).not.toBe(proc.pid); // npx runs herald as a child process

      client = new PusherClient(APP.key, {
        cluster: 'mt1',
        wsHost: '127.0.0.1',
        wsPort: port,
        wssPort: port,
        forceTLS: false,
        enabledTransports: ['ws'],
        enableStats: false,
      });
      expect(await connected(client)).toMatch(/^\d+\.\d+$/);
      const channel = client.subscribe('orders');
      await once((cb) => channel.bind('pusher:subscription_succeeded', cb), 'subscription_succeeded');
      const received = once<unknown>((cb) => channel.bind('created', cb), 'the triggered event');
      const sdk = new Pusher({ appId: APP.id, key: APP.key, secret: APP.secret, host: '127.0.0.1', port: String(port), useTLS: false });
      expect((await sdk.trigger('orders', 'created', { id: 7 })).status).toBe(200);
      expect(await received).toEqual({ id: 7 });
      client.disconnect();
      client = undefined;

      // SIGTERM to herald: it drains and exits 0, and npx exits with its code. (A SIGTERM to npx
      // alone does not reach herald: npm passes it to the `sh -c` it runs herald under and dies of
      // it, leaving herald running. The README says to supervise node_modules/.bin/herald.)
      process.kill(pid, 'SIGTERM');
      const exit = await Promise.race([
        exited,
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`npx did not exit 20 s after herald's SIGTERM:\n${stdout}\n${stderr}`)), 20_000)),
      ]);
      expect(exit, `stdout:\n${stdout}\nstderr:\n${stderr}`).toEqual({ code: 0, signal: null });
      expect(stdout).toContain('"msg":"stopped"');
    },
    TEST_TIMEOUT_MS,
  );
});
