/**
 * The service files in deploy/: the systemd unit, the nginx site and the Caddyfile. Two kinds of check:
 *
 * - their numbers agree with Herald's defaults (always run): LimitNOFILE above maxConnections,
 *   TimeoutStopSec above shutdownGraceSec + the exit backstop, the proxy's read timeout above
 *   activityTimeoutSec + pongTimeoutSec, the directives the README promises;
 * - their syntax, with the real checkers when installed (each skipped with a message otherwise; CI
 *   installs none of them): `systemd-analyze verify` on a temporary copy whose ExecStart names a stub
 *   executable (verify refuses a unit whose binary is missing, and `herald` is not installed here);
 *   `nginx -t` on deploy/nginx.conf (an http-context file) included by a minimal `events {} http {}`
 *   wrapper in a temporary prefix, with the certificate placeholders replaced by a self-signed pair made
 *   with openssl; `caddy validate` likewise. `nginx -t` does open the listening sockets it names (as a
 *   non-root user it fails with `bind() to 0.0.0.0:80 failed (13: Permission denied)`), so the test copy
 *   listens on Unix sockets in the temporary directory instead of 80/443: no TCP port is touched.
 *   `caddy validate` provisions without listening. Each checker is also shown a broken copy, so a checker
 *   that accepts anything would fail the test.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/config.js';
import { EXIT_BACKSTOP_MS } from '../../src/ops/signals.js';
import { ROOT } from '../helpers/herald-process.js';

const DEPLOY = join(ROOT, 'deploy');
const unit = readFileSync(join(DEPLOY, 'herald.service'), 'utf8');
const nginxSite = readFileSync(join(DEPLOY, 'nginx.conf'), 'utf8');
const caddyfile = readFileSync(join(DEPLOY, 'Caddyfile'), 'utf8');
const defaults = parseConfig({ apps: [{ id: 'a', key: 'k', secret: 'x'.repeat(40) }] }, 'deploy.test');
const tmp = mkdtempSync(join(tmpdir(), 'herald-deploy-'));

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0;
}
const hasSystemd = has('systemd-analyze');
const hasNginx = has('nginx');
const hasCaddy = has('caddy');
const hasOpenssl = has('openssl');
if (!hasSystemd) console.warn('deploy.test: systemd-analyze is not installed (apt-get install systemd); the unit syntax check is skipped');
if (!hasNginx) console.warn('deploy.test: nginx is not installed (apt-get install nginx); the nginx -t check is skipped');
if (!hasCaddy) console.warn('deploy.test: caddy is not installed (apt-get install caddy); the caddy validate check is skipped');
if (!hasOpenssl && (hasNginx || hasCaddy)) console.warn('deploy.test: openssl is not installed; the proxy syntax checks need it for a test certificate and are skipped');

/** The unit's [Service] settings, last value wins (as in systemd for single-valued keys). */
function unitSettings(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) out.set(m[1] as string, m[2] as string);
  }
  return out;
}

function seconds(value: string): number {
  const m = /^(\d+)(s|min)?$/.exec(value);
  if (!m) throw new Error(`not a simple time span: ${value}`);
  return Number(m[1]) * (m[2] === 'min' ? 60 : 1);
}

describe('deploy/herald.service', () => {
  const s = unitSettings(unit);

  it('is tied to Herald\'s defaults: file limit above maxConnections, stop timeout above the grace period', () => {
    const nofile = Number(s.get('LimitNOFILE'));
    // One descriptor per WebSocket connection, plus headroom for REST, webhooks, Redis, files and Node.
    expect(nofile).toBeGreaterThanOrEqual(defaults.maxConnections + 1024);
    // Herald exits within shutdownGraceSec, or EXIT_BACKSTOP_MS later when a step hangs; SIGKILL must come after.
    expect(seconds(s.get('TimeoutStopSec') ?? '')).toBeGreaterThan(defaults.shutdownGraceSec + EXIT_BACKSTOP_MS / 1000);
  });

  it('has the settings the README documents', () => {
    expect(s.get('Restart')).toBe('on-failure');
    expect(s.get('KillSignal')).toBe('SIGTERM');
    expect(s.get('ExecStart')).toBe('herald start --config /etc/herald/herald.json');
    expect(s.get('ExecReload')).toBe('/bin/kill -HUP $MAINPID');
    expect(s.get('User')).toBe('herald');
    expect(s.get('StateDirectory')).toBe('herald');
    expect(unit).toContain('Environment=HERALD_STATE_DIR=/var/lib/herald');
    expect(s.get('ReadWritePaths')).toBe('/var/lib/herald');
    for (const key of ['NoNewPrivileges', 'PrivateTmp']) expect(s.get(key)).toBe('yes');
    expect(s.get('ProtectSystem')).toBe('strict');
    expect(s.has('MemoryDenyWriteExecute')).toBe(false); // V8's JIT needs W+X pages
  });

  it.skipIf(!hasSystemd)('passes systemd-analyze verify (ExecStart pointed at a stub; a broken copy fails)', () => {
    const dir = mkdtempSync(join(tmp, 'systemd-'));
    const stub = join(dir, 'herald');
    writeFileSync(stub, '#!/bin/sh\nexit 0\n');
    chmodSync(stub, 0o755);
    const verify = (text: string): { status: number | null; stderr: string } => {
      const file = join(dir, 'herald.service');
      writeFileSync(file, text.replace(/^ExecStart=herald /m, `ExecStart=${stub} `));
      const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
      // verify reports problems with the unit itself (unknown keys, bad values) as warnings with exit 0:
      // any line naming the unit counts. Lines about the host's own units are not ours.
      const ours = r.stderr.split('\n').filter((l) => l.includes('herald')).join('\n');
      return { status: r.status, stderr: ours };
    };
    expect(verify(unit)).toEqual({ status: 0, stderr: '' });
    expect(verify(unit.replace('Restart=on-failure', 'Restart=on-failur')).stderr).toMatch(/restart/i);
  });
});

/** Self-signed certificate + key in dir for the proxies' TLS placeholders. */
function testCertificate(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'fullchain.pem');
  const key = join(dir, 'privkey.pem');
  const r = spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
      '-days', '2', '-subj', '/CN=realtime.example.com'],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`openssl could not make a test certificate: ${r.stderr}`);
  return { cert, key };
}

function withCertificate(text: string, c: { cert: string; key: string }): string {
  return text.replaceAll('/etc/ssl/herald/fullchain.pem', c.cert).replaceAll('/etc/ssl/herald/privkey.pem', c.key);
}

describe('deploy/nginx.conf', () => {
  it('upgrades WebSockets, outwaits pusher-js\'s idle connection, forwards the client address', () => {
    expect(nginxSite).toMatch(/^\s*listen 443 ssl;/m);
    expect(nginxSite).toMatch(/^\s*proxy_http_version 1\.1;/m);
    expect(nginxSite).toMatch(/^\s*proxy_set_header Upgrade\s+\$http_upgrade;/m);
    expect(nginxSite).toMatch(/^\s*proxy_set_header Connection\s+\$herald_connection;/m);
    expect(nginxSite).toMatch(/^\s*proxy_set_header X-Forwarded-For\s+\$proxy_add_x_forwarded_for;/m);
    const ws = /location \/app\/ \{([^}]*)\}/.exec(nginxSite)?.[1] ?? '';
    expect(ws).toMatch(/proxy_buffering off;/);
    // pusher-js pings after activity_timeout of silence and waits 30 s (Herald: pongTimeoutSec) for the pong.
    const idle = defaults.activityTimeoutSec + defaults.pongTimeoutSec;
    for (const d of ['proxy_read_timeout', 'proxy_send_timeout']) {
      const v = new RegExp(`${d} (\\d+)s;`).exec(ws)?.[1];
      expect(Number(v), d).toBeGreaterThan(idle);
    }
    // proxy_set_header lines in a location would silently drop the server-level ones (nginx inheritance).
    expect(/location[^{]*\{[^}]*proxy_set_header/.test(nginxSite)).toBe(false);
  });

  it.skipIf(!hasNginx || !hasOpenssl)('passes nginx -t inside a minimal events {} http {} wrapper (a broken copy fails)', () => {
    const dir = mkdtempSync(join(tmp, 'nginx-'));
    const site = join(dir, 'herald.conf');
    const main = join(dir, 'nginx.conf');
    const cert = testCertificate(dir);
    // Everything nginx would write goes under dir: pid, temp paths, error log (-e, nginx >= 1.19.5).
    writeFileSync(
      main,
      [
        `pid ${join(dir, 'nginx.pid')};`,
        'events {}',
        'http {',
        '    access_log off;',
        ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((p) => `    ${p}_temp_path ${join(dir, p)};`),
        `    include ${site};`,
        '}',
        '',
      ].join('\n'),
    );
    const help = spawnSync('nginx', ['-h'], { encoding: 'utf8' });
    const errorLog = /-e filename/.test(`${help.stdout}${help.stderr}`) ? ['-e', join(dir, 'error.log')] : [];
    const check = (text: string): { status: number | null; output: string } => {
      const unixListen = withCertificate(text, cert)
        .replace(/listen \[::\]:(\d+)/g, (_m, port: string) => `listen unix:${join(dir, `v6-${port}.sock`)}`)
        .replace(/listen (\d+)/g, (_m, port: string) => `listen unix:${join(dir, `v4-${port}.sock`)}`);
      expect(unixListen).not.toMatch(/listen (?!unix:)/);
      writeFileSync(site, unixListen);
      const r = spawnSync('nginx', ['-t', '-q', '-p', dir, ...errorLog, '-c', main], { encoding: 'utf8' });
      return { status: r.status, output: `${r.stdout}${r.stderr}` };
    };
    const good = check(nginxSite);
    expect(good.output).toBe('');
    expect(good.status).toBe(0);
    expect(check(nginxSite.replace('proxy_read_timeout 180s;', 'proxy_read_timeout 180s')).status).not.toBe(0);
  });
});

describe('deploy/Caddyfile', () => {
  it.skipIf(!hasCaddy || !hasOpenssl)('passes caddy validate (a broken copy fails)', () => {
    const dir = mkdtempSync(join(tmp, 'caddy-'));
    const file = join(dir, 'Caddyfile');
    const cert = testCertificate(dir);
    // Caddy keeps its storage under HOME/XDG dirs: point them at dir. validate provisions, never listens.
    const env = { ...process.env, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir };
    const check = (text: string): { status: number | null; output: string } => {
      writeFileSync(file, withCertificate(text, cert));
      const r = spawnSync('caddy', ['validate', '--config', file, '--adapter', 'caddyfile'], { encoding: 'utf8', env });
      return { status: r.status, output: `${r.stdout}${r.stderr}` };
    };
    const good = check(caddyfile);
    expect(good.status, good.output).toBe(0);
    expect(check(caddyfile.replace('flush_interval -1', 'flush_interval')).status).not.toBe(0);
  });
});
