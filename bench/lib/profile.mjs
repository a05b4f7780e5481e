// Summaries of V8 .cpuprofile files written by `node --cpu-prof` (used with --profile).
import fs from 'node:fs';
import path from 'node:path';

/** Self time per function and per source file, largest first. */
export function summarizeProfile(file, top = 25) {
  const p = JSON.parse(fs.readFileSync(file, 'utf8'));
  const nodes = new Map(p.nodes.map((n) => [n.id, n]));
  const byFn = new Map();
  const byFile = new Map();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    const n = nodes.get(p.samples[i]);
    if (!n) continue;
    const cf = n.callFrame;
    const url = cf.url || '';
    const where = url.includes('/dist/src/') ? url.slice(url.indexOf('/dist/src/') + 10) : url.split('/').slice(-1)[0];
    const fn = `${cf.functionName || '(anonymous)'} ${where}${url ? `:${cf.lineNumber + 1}` : ''}`;
    byFn.set(fn, (byFn.get(fn) ?? 0) + dt);
    const fileKey = url.includes('/dist/src/') ? `herald:${where}` : url.startsWith('node:') ? 'node internals' : url ? where : cf.functionName || '(native)';
    byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + dt);
    total += dt;
  }
  const busy = total - (byFn.get('(idle) ') ?? 0);
  const rank = (m) =>
    [...m.entries()]
      .filter(([k]) => !k.startsWith('(idle)'))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, v]) => ({ name: k, ms: Math.round(v / 1000), pct_of_busy: Math.round((1000 * v) / busy) / 10 }));
  return { file: path.basename(file), total_ms: Math.round(total / 1000), busy_ms: Math.round(busy / 1000), functions: rank(byFn), files: rank(byFile) };
}

export function printSummary(s) {
  const lines = [`profile ${s.file}: ${s.busy_ms} ms busy of ${s.total_ms} ms`, '', 'top functions (self time):'];
  for (const f of s.functions) lines.push(`  ${String(f.pct_of_busy).padStart(5)}%  ${String(f.ms).padStart(6)} ms  ${f.name}`);
  lines.push('', 'by file:');
  for (const f of s.files) lines.push(`  ${String(f.pct_of_busy).padStart(5)}%  ${String(f.ms).padStart(6)} ms  ${f.name}`);
  return lines.join('\n');
}
