#!/usr/bin/env node
/**
 * `npm pack` / `npm publish` run this first (package.json "prepack"): a fresh build of src/ into
 * dist/src/ (stale output of deleted sources would otherwise ship: `files` ships every .js
 * under dist/src), then the CLI entry made executable so the tarball carries mode 755, and
 * a check that its shebang survived tsc. Installing the tarball runs no build.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const main = `${root}dist/src/main.js`;

rmSync(`${root}dist/src`, { recursive: true, force: true });
// The package's own build script (npm sets npm_execpath for lifecycle scripts).
const npm = process.env.npm_execpath;
const r = npm
  ? spawnSync(process.execPath, [npm, 'run', 'build'], { cwd: root, stdio: 'inherit' })
  : spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
if (r.status !== 0) {
  console.error(`prepack: the build failed (${r.error?.message ?? `exit ${r.status}`})`);
  process.exit(1);
}
if (!readFileSync(main, 'utf8').startsWith('#!/usr/bin/env node\n')) {
  console.error(`prepack: ${main} has no "#!/usr/bin/env node" first line; \`npx herald\` would not run it`);
  process.exit(1);
}
chmodSync(main, 0o755);
