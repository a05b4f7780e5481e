// Measurement helpers: percentiles, process CPU/RSS from /proc, generator CPU.
import fs from 'node:fs';

const CLK_TCK = 100; // Linux USER_HZ; /proc/PID/stat times are in these ticks

export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}

export function summarize(values) {
  const a = Float64Array.from(values).sort();
  return { n: a.length, p50: percentile(a, 50), p99: percentile(a, 99), max: a.length ? a[a.length - 1] : null };
}

/** Median and spread (min, max) of repeated measurements; nulls are skipped. */
export function medianSpread(values) {
  const a = values.filter((v) => v !== null && v !== undefined && Number.isFinite(v)).sort((x, y) => x - y);
  if (a.length === 0) return { median: null, min: null, max: null, n: 0 };
  const m = a.length % 2 ? a[(a.length - 1) / 2] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2;
  return { median: m, min: a[0], max: a[a.length - 1], n: a.length };
}

/** Server CPU seconds, all threads: the sum of the run times in /proc/PID/task/TID/schedstat (ns
 *  resolution; /proc/PID/stat's utime+stime tick in 10 ms, too coarse for short phases).
 *  Falls back to utime+stime if schedstat is unavailable. */
export function procCpuSeconds(pid) {
  try {
    let ns = 0;
    for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
      try {
        const s = fs.readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'latin1');
        ns += Number(s.slice(0, s.indexOf(' ')));
      } catch {
        // thread exited between readdir and read: its time is no longer attributable
      }
    }
    if (ns > 0) return ns / 1e9;
  } catch {
    // no schedstat: fall through to /proc/PID/stat
  }
  return procStatCpuSeconds(pid);
}

/** utime+stime from /proc/PID/stat (includes exited threads; 10 ms resolution). */
export function procStatCpuSeconds(pid) {
  const s = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime is field 14, stime field 15
  return (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
}

/** Resident set size in bytes from /proc/PID/status (VmRSS). */
export function procRssBytes(pid) {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'latin1');
  const m = /VmRSS:\s+(\d+) kB/.exec(s);
  return m ? Number(m[1]) * 1024 : null;
}

/** Busy CPU seconds of the whole machine (all cores, steal included) from /proc/stat. */
export function machineBusySeconds() {
  const line = fs.readFileSync('/proc/stat', 'latin1').split('\n', 1)[0];
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  const busy = f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] ?? 0);
  return busy / CLK_TCK;
}

/** A measurement window over server CPU, generator CPU and wall time. */
export class Window {
  constructor(pid) {
    this.pid = pid;
  }
  start() {
    this.t0 = performance.now();
    this.s0 = procCpuSeconds(this.pid);
    this.g0 = process.cpuUsage();
    this.m0 = machineBusySeconds();
    return this;
  }
  stop() {
    this.t1 = performance.now();
    this.s1 = procCpuSeconds(this.pid);
    const g = process.cpuUsage(this.g0);
    this.seconds = (this.t1 - this.t0) / 1000;
    this.serverCpuSec = this.s1 - this.s0;
    this.genCpuSec = (g.user + g.system) / 1e6;
    // CPU used by everything else on the machine (other processes, steal): a noise indicator
    this.otherCpuSec = Math.max(0, machineBusySeconds() - this.m0 - this.serverCpuSec - this.genCpuSec);
    return this;
  }
  /** Fractions of one core. */
  get serverCpu() {
    return this.serverCpuSec / this.seconds;
  }
  get genCpu() {
    return this.genCpuSec / this.seconds;
  }
  get otherCpu() {
    return this.otherCpuSec / this.seconds;
  }
}

export const GEN_SATURATED = 0.9;
export const NOISY = 0.25;

export function round(v, digits = 3) {
  if (v === null || v === undefined || !Number.isFinite(v)) return v ?? null;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
