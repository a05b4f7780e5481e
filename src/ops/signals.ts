/**
 * Process signals for a running server: SIGTERM and SIGINT stop it gracefully and exit within
 * shutdownGraceSec (a backstop timer forces the exit if a step hangs); SIGHUP re-reads the
 * config file and applies it, or refuses it and keeps the running config.
 */
import { ConfigError } from '../config/schema.js';
import { loadConfig } from '../config/config.js';
import type { Logger } from '../log.js';
import type { HeraldServer } from '../server.js';
import { removePidFile } from './pidfile.js';

/** Extra time past the grace period before the backstop forces the process out. */
export const EXIT_BACKSTOP_MS = 2000;

export interface SignalOptions {
  /** The config file to re-read on SIGHUP; undefined when serving the development default. */
  readonly configFile: string | undefined;
  readonly pidFile: string | undefined;
  readonly env: NodeJS.ProcessEnv;
  readonly logger: Logger;
}

/** Installs the handlers; returns the graceful stop they run, for other reasons to stop (a failed handover). */
export function installSignalHandlers(server: HeraldServer, options: SignalOptions): (reason: string) => void {
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    const { logger } = options;
    logger.info({ signal }, 'shutting down');
    const backstop = setTimeout(() => {
      logger.error({ graceSec: server.config.shutdownGraceSec }, 'shutdown overran the grace period; exiting now');
      exit(options, 1);
    }, server.config.shutdownGraceSec * 1000 + EXIT_BACKSTOP_MS);
    server.stop().then(
      (result) => {
        clearTimeout(backstop);
        exit(options, result.incomplete.length === 0 ? 0 : 1);
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        exit(options, 1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    if (!stopping) reloadFromFile(server, options);
  });
  return stop;
}

function exit(options: SignalOptions, code: number): void {
  if (options.pidFile !== undefined) {
    try {
      removePidFile(options.pidFile);
    } catch (err) {
      options.logger.warn({ err, pidFile: options.pidFile }, 'could not remove the pid file');
    }
  }
  process.exit(code);
}

/** Re-reads and applies the config file; a bad file is refused and logged. Never throws. */
export function reloadFromFile(server: HeraldServer, options: Pick<SignalOptions, 'configFile' | 'env' | 'logger'>): boolean {
  if (options.configFile === undefined) {
    server.reloadRefused('Herald was started without a config file (development app); there is nothing to reload');
    return false;
  }
  try {
    server.reload(loadConfig(options.configFile, options.env).config);
    return true;
  } catch (err) {
    if (!(err instanceof ConfigError)) options.logger.error({ err }, 'config reload failed while being applied');
    server.reloadRefused(err instanceof ConfigError ? err.message : 'internal error while applying the new config (logged above)');
    return false;
  }
}
