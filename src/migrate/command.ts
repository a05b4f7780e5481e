/**
 * `herald import soketi|reverb`: reads the source's settings, translates them (soketi.ts,
 * reverb.ts), refuses short secrets, validates the result with parseConfig and writes it with
 * mode 0600, never over an existing file. It prints what it wrote, what behaves differently and
 * every setting it could not carry over — names and reasons only, never a value (values may be
 * secrets). Secrets shorter than Herald's minimum are refused, not replaced: a new secret must
 * also reach every backend that signs with the old one, so the user rotates it on purpose.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { MIN_SECRET_LENGTH, parseConfig } from '../config/config.js';
import { ConfigError } from '../config/schema.js';
import { readEnvFile } from './env-file.js';
import { importReverb } from './reverb.js';
import { importSoketi } from './soketi.js';
import { ImportError, type Translation } from './translation.js';

export const IMPORT_USAGE = `  herald import soketi --from FILE.json [--env-file .env] [--out herald.json]
                                            write a Herald config from soketi's config file and SOKETI_* variables
  herald import reverb --env-file .env [--out herald.json]
                                            write a Herald config from Laravel Reverb's REVERB_* variables`;

/** Variables of the running process win over the file's, as in soketi (dotenv) and Laravel (phpdotenv). */
function sourceEnv(file: string | undefined, env: NodeJS.ProcessEnv, prefixes: readonly string[], print: (line: string) => void): Record<string, string | undefined> {
  const merged: Record<string, string | undefined> = {};
  if (file !== undefined) {
    const parsed = readEnvFile(file);
    for (const line of parsed.skipped) print(`note: ${file} line ${line} is not KEY=value; ignored`);
    Object.assign(merged, parsed.vars);
  }
  for (const [name, value] of Object.entries(env)) if (prefixes.some((p) => name.startsWith(p)) && value !== undefined) merged[name] = value;
  return merged;
}

function readJson(file: string): unknown {
  let raw: string;
  try {
    raw = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ImportError(`${file} cannot be read: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    throw new ImportError(`${file} is not valid JSON (text withheld: it may hold a secret)`);
  }
}

function parseImportArgs(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: { from: { type: 'string' }, 'env-file': { type: 'string' }, out: { type: 'string' } },
  });
}

function translate(argv: string[], env: NodeJS.ProcessEnv, print: (line: string) => void): Translation {
  const { positionals, values } = parseImportArgs(argv);
  const source = positionals[0];
  const envFile = values['env-file'];
  if (source === 'soketi') {
    if (values.from === undefined && envFile === undefined) throw new ImportError('import soketi needs --from FILE.json and/or --env-file .env');
    return importSoketi(values.from === undefined ? {} : readJson(values.from), sourceEnv(envFile, env, ['SOKETI_'], print));
  }
  if (source === 'reverb') {
    if (envFile === undefined) throw new ImportError('import reverb needs --env-file .env (the Laravel app\'s .env)');
    return importReverb(sourceEnv(envFile, env, ['REVERB_', 'REDIS_'], print));
  }
  throw new ImportError(`import from "${source ?? ''}" is not supported; use soketi or reverb`);
}

/** Every app secret is at least MIN_SECRET_LENGTH, or the import stops naming the apps (not the secrets). */
function checkSecrets(config: Record<string, unknown>): void {
  const apps = (config.apps ?? []) as Array<Record<string, unknown>>;
  const short = apps
    .map((app, i) => ({ id: typeof app.id === 'string' ? app.id : `#${i}`, length: typeof app.secret === 'string' ? app.secret.length : 0 }))
    .filter((a) => a.length < MIN_SECRET_LENGTH);
  if (short.length === 0) return;
  const list = short.map((a) => `app "${a.id}" (${a.length} characters)`).join(', ');
  throw new ImportError(
    `Herald refuses secrets shorter than ${MIN_SECRET_LENGTH} characters: ${list}. Nothing was written. ` +
      'Give the app a new secret of at least 16 characters (e.g. `openssl rand -hex 20`) in the source config and in every backend ' +
      'that signs with it, then import again. (A soketi config with no apps means soketi\'s public default app-secret.)',
  );
}

function report(t: Translation, out: string, print: (line: string) => void): void {
  const apps = (t.config.apps as Array<Record<string, unknown>>).map((a) => String(a.id)).join(', ');
  print(`Wrote ${out} (mode 0600) with app(s): ${apps}. Check it with \`herald config print --config ${out}\`.`);
  if (t.notes.length > 0) print(`\nBehaves differently (${t.notes.length}):`);
  for (const note of t.notes) print(`  - ${note}`);
  print(t.unmapped.length === 0 ? '\nEvery setting found was carried over.' : `\nNot carried over (${t.unmapped.length}):`);
  for (const u of t.unmapped) print(`  - ${u.setting}: ${u.reason}`);
}

/** Runs the command; returns the exit code (0 written, 1 refused or failed, 2 usage). */
export function importCommand(argv: string[], env: NodeJS.ProcessEnv, print: (line: string) => void = (l) => console.error(l)): number {
  try {
    const file = parseImportArgs(argv).values.out ?? 'herald.json';
    const t = translate(argv, env, print);
    checkSecrets(t.config);
    try {
      parseConfig(t.config, file);
    } catch (err) {
      if (err instanceof ConfigError) throw new ImportError(`the imported config would be refused by Herald: ${err.message}. Nothing was written`);
      throw err;
    }
    try {
      writeFileSync(file, `${JSON.stringify(t.config, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      const exists = (err as NodeJS.ErrnoException).code === 'EEXIST';
      throw new ImportError(exists ? `${file} already exists; nothing was written (choose another --out)` : `${file} cannot be written: ${(err as Error).message}`);
    }
    report(t, file, print);
    return 0;
  } catch (err) {
    if (err instanceof ImportError) {
      print(`herald: ${err.message}`);
      return 1;
    }
    if (err instanceof TypeError && (err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
      print(`herald: ${err.message}\n${IMPORT_USAGE}`);
      return 2;
    }
    throw err;
  }
}
