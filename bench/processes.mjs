// What a benchmark reads of the processes it measures: resident memory and
// CPU time from /proc (Linux), sampled while the load runs.
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

const PAGE_SIZE = 4096;
const CLOCK_TICKS = 100; // USER_HZ on Linux

/** Resident set size of `pid` in MiB, or null once it is gone. */
export function rssMiB(pid) {
  try {
    const pages = Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]);
    return (pages * PAGE_SIZE) / 1024 / 1024;
  } catch {
    return null;
  }
}

/** CPU seconds (user + system) `pid` has used so far. */
export function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS; // utime, stime
}

/** Samples the RSS of `pids` every `everyMs` until stop(); returns the peaks. */
export function sampleMemory(pids, everyMs = 50) {
  const peak = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, rssMiB(pid) ?? 0]));
  const start = { ...peak };
  const timer = setInterval(() => {
    for (const [name, pid] of Object.entries(pids)) peak[name] = Math.max(peak[name], rssMiB(pid) ?? 0);
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      return Object.fromEntries(
        Object.keys(pids).map((name) => [name, { startMiB: Math.round(start[name]), peakMiB: Math.round(peak[name]) }]),
      );
    },
  };
}

/** Pid of the descendant of `root` whose command line contains `needle`. */
export function findDescendant(root, needle) {
  const rows = execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((line) => {
      const [, pid, ppid, args] = line.match(/^\s*(\d+)\s+(\d+)\s+(.*)$/);
      return { pid: Number(pid), ppid: Number(ppid), args };
    });
  const below = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const row of rows)
      if (below.has(row.ppid) && !below.has(row.pid)) {
        below.add(row.pid);
        grew = true;
      }
  }
  return rows.find((row) => below.has(row.pid) && row.pid !== root && row.args.includes(needle))?.pid ?? null;
}

/** CPU seconds used so far by every process of `user` (PostgreSQL's server and backends). */
export function userCpuSeconds(user) {
  const pids = execFileSync('ps', ['-u', user, '-o', 'pid='], { encoding: 'utf8' }).trim().split(/\s+/).map(Number);
  let total = 0;
  for (const pid of pids) {
    try {
      total += cpuSeconds(pid);
    } catch {
      /* exited meanwhile */
    }
  }
  return total;
}

/** Busy CPU seconds of the whole machine so far (all cores), from /proc/stat. */
export function machineBusySeconds() {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  const idle = fields[3] + fields[4]; // idle + iowait
  return (fields.reduce((a, b) => a + b, 0) - idle) / CLOCK_TICKS;
}
