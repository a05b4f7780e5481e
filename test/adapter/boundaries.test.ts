/**
 * The seams' boundaries, read from the source: callers branch on no implementation name, the
 * adapter never imports connection handling (it reaches the core only through the sink it is
 * given), and the Redis internals (connections, key builder, mirror, scripts) are imported only
 * by the Redis implementation.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = join(import.meta.dirname, '../../src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

const files = sources(SRC).map((path) => ({ path: relative(SRC, path), text: readFileSync(path, 'utf8') }));

function imports(text: string): string[] {
  return [...text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+'([^']+)'/gm)].map((m) => m[1] as string);
}

it('reads the imports of every source file', () => {
  expect(imports(files.find((f) => f.path === 'server.ts')?.text ?? '')).toContain('./adapter/create.js');
});

describe('cluster seam boundaries', () => {
  it('no caller branches on the implementation name', () => {
    const branching = files.filter((f) => /\.name\s*[!=]==?\s*'(local|redis)'/.test(f.text)).map((f) => f.path);
    expect(branching).toEqual([]);
  });

  it('the adapter imports no connection handling, channel state, REST or transport', () => {
    const offending = files
      .filter((f) => f.path.startsWith('adapter/'))
      .flatMap((f) => imports(f.text).filter((spec) => /^\.\.\/(connection|channels|rest|transport|webhooks|quota)\/|^\.\.\/server/.test(spec)).map((spec) => `${f.path} → ${spec}`));
    expect(offending).toEqual([]);
  });

  it('only the Redis implementation imports the Redis internals', () => {
    const internal = /\/redis-(node|keys|scripts)\.js$/;
    const offending = files
      .filter((f) => !/^adapter\/([a-z]+-redis|redis-[a-z]+)\.ts$/.test(f.path))
      .flatMap((f) => imports(f.text).filter((spec) => internal.test(spec)).map((spec) => `${f.path} → ${spec}`));
    expect(offending).toEqual([]);
  });

  it('outside the implementations, only create.ts chooses one', () => {
    const offending = files
      .filter((f) => f.path !== 'adapter/create.ts' && !/^adapter\/[a-z]+-(local|redis)\.ts$/.test(f.path))
      .flatMap((f) => imports(f.text).filter((spec) => /\/(cluster|broker|presence|occupancy|cache|holds|usage)-(local|redis)\.js$/.test(spec)).map((spec) => `${f.path} → ${spec}`));
    expect(offending).toEqual([]);
  });
});
