/**
 * Structured JSON logs through pino. Secrets never reach a log line: the app record is never
 * logged whole, and any field named like a secret is redacted as a second line of defence.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const options = {
    level,
    base: { service: 'herald' },
    redact: { paths: ['secret', '*.secret', '*.*.secret', 'auth_signature', 'config.apps'], censor: '[redacted]' },
  };
  return destination ? pino(options, destination as never) : pino(options);
}
