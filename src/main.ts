#!/usr/bin/env node
/**
 * Herald's command line: `start` serves; `app create` adds an app with random credentials;
 * `config print` shows the effective config (secrets masked) and `config schema` its JSON Schema.
 */
import { parseArgs } from 'node:util';
import { addAppToFile, newAppEntry } from './apps/create.js';
import { ConfigError } from './config/schema.js';
import { DEV_APP, loadConfig } from './config/config.js';
import { configJsonSchema, maskedConfig } from './config/print.js';
import { createLogger } from './log.js';
import { IMPORT_USAGE, importCommand } from './migrate/command.js';
import { doctorCommand } from './ops/doctor.js';
import { PidFileError, signalReload, writePidFile } from './ops/pidfile.js';
import { installSignalHandlers } from './ops/signals.js';
import { usageCommand } from './quota/report.js';
import { UsageFileError } from './quota/usage-file.js';
import { HeraldServer } from './server.js';
import { StateDirLocked } from './state/lock.js';
import { NativeUwsUnavailable, summarizeUws } from './transport/uws-load.js';

const USAGE = `Usage:
  herald start [--config FILE] [--pid-file FILE] [--take-over]
                                            serve (config from FILE or HERALD_CONFIG; a public dev app otherwise);
                                            SIGHUP reloads the config, SIGTERM/SIGINT stop gracefully.
                                            A stateDir held by a running Herald is refused, unless --take-over:
                                            then this one listens, stops that one and takes over its state
  herald reload --pid-file FILE             make the server whose pid is in FILE reload its config (= kill -HUP)
  herald usage [--config FILE] [--json]     each app's messages today, from the usage file in stateDir
                                            (written every usageFlushSec by the running server)
  herald app create [--config FILE] [--name NAME]
                                            add an app with a random id, key and secret to FILE
                                            (or print the entry when no FILE is given)
  herald config print [--config FILE]       the effective config as JSON: defaults filled, environment
                                            overrides applied, secrets and other credentials shown as ****
  herald config schema                      the JSON Schema of the config file
${IMPORT_USAGE}
  herald doctor [--config FILE]             check this machine and config: Node, glibc, the uWebSockets.js build,
                                            open file limit, stateDir, Redis, config problems (exit 1 on a problem)`;

async function start(configFile: string | undefined, pidFile: string | undefined, takeOver: boolean): Promise<void> {
  const { config, file } = loadConfig(configFile, process.env);
  const logger = createLogger(config.logLevel);
  if (file === undefined) {
    logger.warn(
      { app: { id: DEV_APP.id, key: DEV_APP.key } },
      'NO CONFIG FILE: serving the development app with PUBLIC credentials (id app-id, key app-key, secret app-secret). ' +
        'Anyone can publish to it. Create a config with `herald app create --config herald.json` before deploying.',
    );
  }
  const server = await HeraldServer.start({ config, logger, takeOver });
  const stop = installSignalHandlers(server, { configFile: file, pidFile, env: process.env, logger });
  if (pidFile !== undefined) writePidFile(pidFile);
  server.stateDir.done.catch((err: unknown) => {
    logger.error({ err, stateDir: config.stateDir }, 'stateDir handover failed; stopping');
    stop('handover failed');
  });
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] === 'import') {
    process.exitCode = importCommand(argv.slice(1), process.env);
    return;
  }
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      name: { type: 'string' },
      'pid-file': { type: 'string' },
      'take-over': { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, sub] = positionals;
  if (values.help || command === undefined) {
    console.log(USAGE);
    return;
  }
  if (command === 'start') return start(values.config, values['pid-file'], values['take-over'] === true);
  if (command === 'reload' && values['pid-file'] !== undefined) {
    const pid = signalReload(values['pid-file']);
    console.error(`Sent SIGHUP to herald (pid ${pid}); its log says whether the new config was applied or refused`);
    return;
  }
  if (command === 'doctor') {
    process.exitCode = await doctorCommand({ configFile: values.config, env: process.env, probeUws: () => summarizeUws() });
    return;
  }
  if (command === 'usage') {
    console.log(await usageCommand(loadConfig(values.config, process.env).config, Date.now(), values.json === true));
    return;
  }
  if (command === 'app' && sub === 'create') {
    const entry = values.config ? addAppToFile(values.config, values.name) : newAppEntry(values.name);
    if (values.config) console.error(`Added app "${entry.name}" (id ${entry.id}) to ${values.config}`);
    console.log(JSON.stringify(entry, null, 2));
    return;
  }
  if (command === 'config' && sub === 'print') {
    console.log(JSON.stringify(maskedConfig(loadConfig(values.config, process.env).config), null, 2));
    return;
  }
  if (command === 'config' && sub === 'schema') {
    console.log(JSON.stringify(configJsonSchema(), null, 2));
    return;
  }
  console.error(USAGE);
  process.exitCode = 2;
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof NativeUwsUnavailable || err instanceof UsageFileError || err instanceof PidFileError || err instanceof StateDirLocked) {
    console.error(`herald: ${err.message}`);
  } else {
    console.error('herald: fatal error', err);
  }
  process.exit(1);
});
