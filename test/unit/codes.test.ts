/**
 * The code table in src/wire/codes.ts and protocol/close-codes.json say the same thing, and no
 * bare 4xxx literal lives anywhere else in src/ (handlers name table entries instead).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Codes } from '../../src/wire/codes.js';

const root = new URL('../../', import.meta.url).pathname;
const json = JSON.parse(readFileSync(join(root, 'protocol/close-codes.json'), 'utf8')) as { codes: Array<Record<string, unknown>> };

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('Pusher code table', () => {
  it('equals protocol/close-codes.json entry for entry', () => {
    expect(Object.values(Codes).map((c) => ({ ...c }))).toEqual(json.codes);
  });

  it('classes reconnect behaviour as pusher-js does (<4000 none, 4000 tls, 40xx refused, 41xx backoff, 42xx retry)', () => {
    for (const c of Object.values(Codes)) {
      if (c.delivery === 'error') {
        expect(c.code).toBeGreaterThanOrEqual(4300);
        continue;
      }
      // Below 4000 (1011): pusher-js takes no action, then reconnects after 1 s like any other close.
      const expected = c.code < 4000 ? 'none' : c.code === 4000 ? 'tls_only' : c.code < 4100 ? 'refused' : c.code < 4200 ? 'backoff' : 'retry';
      expect(c.reconnect, `${c.name}`).toBe(expected);
    }
  });

  it('has no bare 4xxx literal elsewhere in src/', () => {
    const offenders = files(join(root, 'src'))
      .filter((f) => !f.endsWith(join('wire', 'codes.ts')))
      .flatMap((f) =>
        readFileSync(f, 'utf8')
          // Comments may cite codes; blank them out but keep line numbers.
          .replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' '))
          .replace(/\/\/.*$/gm, '')
          .split('\n')
          .map((line, i) => ({ f, i, line }))
          .filter(({ line }) => /(?<![\w.])4[0-3]\d\d(?![\w.])/.test(line)),
      )
      .map(({ f, i, line }) => `${f}:${i + 1}: ${line.trim()}`);
    expect(offenders).toEqual([]);
  });
});
