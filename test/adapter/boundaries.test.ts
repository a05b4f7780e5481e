/**
 * The seams' boundaries, read from the source: callers branch on no implementation name. The
 * import boundaries (the adapter never imports connection handling, the Redis internals stay
 * inside the Redis implementation, one place chooses the cluster) are dependency-cruiser rules
 * in .dependency-cruiser.cjs, checked by `npm test`.
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

describe('cluster seam boundaries', () => {
  it('no caller branches on the implementation name', () => {
    const branching = files.filter((f) => /\.name\s*[!=]==?\s*'(local|redis)'/.test(f.text)).map((f) => f.path);
    expect(branching).toEqual([]);
  });
});
