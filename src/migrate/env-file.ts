/**
 * Reads a `.env` file the way soketi (dotenv) and Laravel (phpdotenv) read the common subset:
 * `KEY=value` lines, an optional `export ` before the key, `#` comment lines, a ` #` comment after
 * an unquoted value, single quotes taken literally, double quotes with `\n` `\"` `\\` escapes, and
 * `${NAME}` in unquoted or double-quoted values replaced by an earlier key of the same file (or left
 * empty). Lines that are not assignments are returned in `skipped` (by line number only: a value
 * may be a secret) so the caller can say it ignored them.
 */
import { readFileSync } from 'node:fs';

export interface EnvFile {
  readonly vars: Record<string, string>;
  /** 1-based numbers of lines that were neither blank, a comment nor an assignment. */
  readonly skipped: number[];
}

const ASSIGNMENT = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*)$/;

function unescapeDouble(body: string): string {
  return body.replace(/\\([nrt"\\$])/g, (_, c: string) => ({ n: '\n', r: '\r', t: '\t' })[c] ?? c);
}

function expand(value: string, vars: Record<string, string>): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => vars[name] ?? '');
}

/** The value part of one line: quoted (a closing quote must follow) or bare up to a ` #` comment. */
function readValue(raw: string, vars: Record<string, string>): string | undefined {
  const quote = raw[0];
  if (quote === "'" || quote === '"') {
    const end = quote === "'" ? raw.indexOf("'", 1) : findClosingDouble(raw);
    if (end < 0) return undefined;
    const body = raw.slice(1, end);
    return quote === "'" ? body : expand(unescapeDouble(body), vars);
  }
  const comment = raw.search(/\s#/);
  return expand((comment < 0 ? raw : raw.slice(0, comment)).trim(), vars);
}

function findClosingDouble(raw: string): number {
  for (let i = 1; i < raw.length; i++) {
    if (raw[i] === '\\') i++;
    else if (raw[i] === '"') return i;
  }
  return -1;
}

export function parseEnvText(text: string): EnvFile {
  const vars: Record<string, string> = {};
  const skipped: number[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (/^\s*(#|$)/.test(line)) return;
    const match = ASSIGNMENT.exec(line);
    const value = match ? readValue(match[2] ?? '', vars) : undefined;
    if (match?.[1] === undefined || value === undefined) skipped.push(i + 1);
    else vars[match[1]] = value;
  });
  return { vars, skipped };
}

export function readEnvFile(path: string): EnvFile {
  return parseEnvText(readFileSync(path, 'utf8'));
}
