// Final markdown table: Herald, soketi, ceiling, Herald/ceiling, Herald/soketi, issue 5's target.

function find(results, scenario, variant, mode, target) {
  return results.find((r) => r.scenario === scenario && r.variant === variant && r.mode === mode && r.target === target);
}

function val(rec, metric, inverse = false) {
  const v = rec?.metrics?.[metric]?.median ?? null;
  if (!inverse) return v;
  return v ? 1e6 / v : null;
}

function spread(rec, metric) {
  const m = rec?.metrics?.[metric];
  if (!m || m.n < 2 || m.median === null) return '';
  const pct = m.median !== 0 ? Math.max(Math.abs(m.max - m.median), Math.abs(m.median - m.min)) / Math.abs(m.median) : 0;
  return pct >= 0.005 ? ` ±${Math.round(pct * 100)}%` : '';
}

function fmt(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (a >= 1e4) return `${(v / 1e3).toFixed(1)}k`;
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  if (a === 0) return '0';
  return v.toPrecision(2);
}

const ratio = (a, b) => (a === null || b === null || !b ? null : a / b);
const check = (ok) => (ok === null ? 'n/a' : ok ? 'meets' : 'MISSES');

function rowSpecs(results) {
  const specs = [];
  const add = (s) => specs.push(s);
  const variantOf = (scenario) => [...new Set(results.filter((r) => r.scenario === scenario).map((r) => r.variant))];

  add({ label: 'REST req/s, no subscribers, 64 conns', sc: 'rest', v: 'no-subs', mode: 'rest', m: 'req_per_sec',
    target: '≥ 3× soketi and ≥ 50 % of ceiling', ok: (h, s, c) => (h === null || s === null || c === null ? null : h >= 3 * s && h >= 0.5 * c) });
  add({ label: 'REST server CPU µs/req', sc: 'rest', v: 'no-subs', mode: 'rest', m: 'server_cpu_us_per_req' });
  add({ label: 'REST req/s per server core (10⁶ ÷ CPU µs/req)', sc: 'rest', v: 'no-subs', mode: 'rest', m: 'server_cpu_us_per_req', inverse: true,
    target: '≥ 3× soketi and ≥ 50 % of ceiling', ok: (h, s, c) => (h === null || s === null || c === null ? null : h >= 3 * s && h >= 0.5 * c) });
  add({ label: 'REST p99 ms', sc: 'rest', v: 'no-subs', mode: 'rest', m: 'latency_p99_ms' });

  for (const v of variantOf('channels')) {
    add({ label: `many channels (${v} conns, own channel each): REST req/s, 32 conns`, sc: 'channels', v, mode: 'rest-random-channel', m: 'req_per_sec' });
    add({ label: `many channels ${v}: REST p99 ms`, sc: 'channels', v, mode: 'rest-random-channel', m: 'latency_p99_ms' });
    add({ label: `many channels ${v}: server CPU µs/req`, sc: 'channels', v, mode: 'rest-random-channel', m: 'server_cpu_us_per_req' });
  }

  for (const v of variantOf('fanout')) {
    add({ label: `fan-out ${v} subs, max rate: delivered msgs/s`, sc: 'fanout', v, mode: 'max', m: 'delivered_per_sec',
      target: '≥ 80 % of ceiling', ok: (h, s, c) => (h === null || c === null ? null : h >= 0.8 * c) });
    add({ label: `fan-out ${v} subs, max rate: server CPU µs/msg`, sc: 'fanout', v, mode: 'max', m: 'server_cpu_us_per_msg',
      target: '≤ 1.25× ceiling', ok: (h, s, c) => (h === null || c === null ? null : h <= 1.25 * c) });
    add({ label: `fan-out ${v} subs, max rate: msgs/s per server core (10⁶ ÷ CPU µs/msg)`, sc: 'fanout', v, mode: 'max', m: 'server_cpu_us_per_msg', inverse: true,
      target: '≥ 80 % of ceiling', ok: (h, s, c) => (h === null || c === null ? null : h >= 0.8 * c) });
    const rate = v === '1k' ? '50' : '5';
    add({ label: `fan-out ${v} subs @ ${rate} ev/s: p50 ms`, sc: 'fanout', v, mode: 'fixed', m: 'latency_p50_ms' });
    add({ label: `fan-out ${v} subs @ ${rate} ev/s: p99 ms`, sc: 'fanout', v, mode: 'fixed', m: 'latency_p99_ms',
      target: '≤ 1.2× ceiling', ok: (h, s, c) => (h === null || c === null ? null : h <= 1.2 * c) });
    add({ label: `fan-out ${v} subs @ ${rate} ev/s: lost deliveries`, sc: 'fanout', v, mode: 'fixed', m: 'loss' });
  }

  add({ label: 'client events (pairs): events/s', sc: 'client-events', v: 'pairs', mode: 'pairs', m: 'events_per_sec' });
  add({ label: 'client events: round trip p99 ms', sc: 'client-events', v: 'pairs', mode: 'pairs', m: 'rtt_p99_ms' });
  add({ label: 'client events: server CPU µs/event', sc: 'client-events', v: 'pairs', mode: 'pairs', m: 'server_cpu_us_per_event' });

  add({ label: 'presence churn: joins/s', sc: 'presence', v: 'churn', mode: 'churn', m: 'joins_per_sec' });
  add({ label: 'presence churn: member_added p99 ms', sc: 'presence', v: 'churn', mode: 'churn', m: 'member_added_p99_ms' });
  add({ label: 'presence churn: server CPU µs/join', sc: 'presence', v: 'churn', mode: 'churn', m: 'server_cpu_us_per_join',
    target: '≤ ⅕ of soketi', ok: (h, s) => (h === null || s === null ? null : h <= s / 5) });

  for (const v of variantOf('idle')) {
    const levels = [...new Set(results.filter((r) => r.scenario === 'idle' && r.variant === v && r.level).map((r) => r.level))].sort((a, b) => a - b);
    const what = v === 'one' ? 'one channel' : 'own channel each';
    for (const L of levels) {
      const mode = `level-${L}`;
      const k = L >= 1000 ? `${L / 1000}k` : String(L);
      add({ label: `idle ${k} (${what}): connect+subscribe/s`, sc: 'idle', v, mode, m: 'connect_per_sec' });
      add({ label: `idle ${k} (${what}): connect+subscribe p99 ms`, sc: 'idle', v, mode, m: 'connect_p99_ms' });
      add({ label: `idle ${k} (${what}): server CPU µs/connect+subscribe`, sc: 'idle', v, mode, m: 'server_cpu_us_per_connect',
        target: '≤ 2× ceiling', ok: (h, s, c) => (h === null || c === null ? null : h <= 2 * c) });
      add({ label: `idle ${k} (${what}): RSS KB/conn`, sc: 'idle', v, mode, m: 'rss_kb_per_conn',
        target: '≤ 1.5× ceiling', ok: (h, s, c) => (h === null || c === null ? null : h <= 1.5 * c) });
      add({ label: `idle ${k} (${what}): idle server CPU %`, sc: 'idle', v, mode, m: 'idle_cpu_pct' });
    }
    if (v === 'one' && levels.length >= 2) {
      const lo = `level-${levels[0]}`;
      const hi = `level-${levels[levels.length - 1]}`;
      specs.push({
        label: `idle one channel: CPU/connect at ${levels[levels.length - 1]} ÷ at ${levels[0]} (flatness)`,
        custom: (t) => {
          const a = val(find(results, 'idle', v, hi, t), 'server_cpu_us_per_connect');
          const b = val(find(results, 'idle', v, lo, t), 'server_cpu_us_per_connect');
          return ratio(a, b);
        },
        target: 'flat (≤ 1.3)',
        ok: (h) => (h === null ? null : h <= 1.3),
      });
    }
  }
  return specs;
}

export function buildTable(results) {
  const rows = [];
  const lines = [
    '| metric | Herald | soketi | ceiling | Herald/ceiling | Herald/soketi | target | Herald vs target |',
    '|---|---:|---:|---:|---:|---:|---|---|',
  ];
  const key = (r) => `${r.scenario}/${r.variant}/${r.mode}/${r.target}`;
  const flagged = new Set(results.filter((r) => r.gen_saturated).map(key));
  const noisy = new Set(results.filter((r) => r.noisy).map(key));
  const mark = (sc, v, mode, t) => {
    const k = `${sc}/${v}/${mode}/${t}`;
    return (flagged.has(k) ? ' (gen sat.)' : '') + (noisy.has(k) ? ' (noisy)' : '');
  };
  for (const s of rowSpecs(results)) {
    let h, so, c, hs = '', ss = '', cs = '';
    if (s.custom) {
      h = s.custom('herald');
      so = s.custom('soketi');
      c = s.custom('ceiling');
    } else {
      const rh = find(results, s.sc, s.v, s.mode, 'herald');
      const rs = find(results, s.sc, s.v, s.mode, 'soketi');
      const rc = find(results, s.sc, s.v, s.mode, 'ceiling');
      h = val(rh, s.m, s.inverse);
      so = val(rs, s.m, s.inverse);
      c = val(rc, s.m, s.inverse);
      hs = spread(rh, s.m) + mark(s.sc, s.v, s.mode, 'herald');
      ss = spread(rs, s.m) + mark(s.sc, s.v, s.mode, 'soketi');
      cs = spread(rc, s.m) + mark(s.sc, s.v, s.mode, 'ceiling');
    }
    if (h === null && so === null && c === null) continue;
    const hc = ratio(h, c);
    const hso = ratio(h, so);
    const verdict = s.ok ? check(s.ok(h, so, c)) : '';
    rows.push({ metric: s.label, herald: h, soketi: so, ceiling: c, herald_over_ceiling: hc, herald_over_soketi: hso, target: s.target ?? null, verdict: verdict || null });
    lines.push(
      `| ${s.label} | ${fmt(h)}${hs} | ${fmt(so)}${ss} | ${fmt(c)}${cs} | ${hc === null ? '–' : hc.toFixed(2)} | ${hso === null ? '–' : hso.toFixed(2)} | ${s.target ?? ''} | ${verdict} |`,
    );
  }
  const errs = results.filter((r) => r.mode === 'error');
  if (errs.length) {
    lines.push('');
    for (const e of errs) lines.push(`- error in ${e.scenario}/${e.variant} on ${e.target}: ${String(e.error).split('\n')[0]}`);
  }
  const sat = results.filter((r) => r.gen_saturated);
  if (sat.length) {
    lines.push('');
    lines.push(`- generator above 90 % of its core in: ${sat.map((r) => `${r.scenario}/${r.variant}/${r.mode}/${r.target}`).join(', ')} (those rates are lower bounds)`);
  }
  const noisyRecs = results.filter((r) => r.noisy);
  if (noisyRecs.length) {
    lines.push('');
    lines.push(`- other processes used > 25 % of a core during: ${noisyRecs.map(key).join(', ')} (rates there are unreliable; CPU per operation less so)`);
  }
  return { rows, markdown: lines.join('\n') };
}
