// What a benchmark reads of the processes it measures: resident memory and
// CPU time from /proc (Linux), sampled while the load runs.
import { readdirSync, readFileSync, statSync } from 'node:fs';
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

/** What /proc says of every process of `uid`: pid, process title, CPU seconds (read directly: no `ps` fork, fast). */
function processesOf(uid) {
  const found = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (statSync(`/proc/${entry}`).uid !== uid) continue;
      const title = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      found.push({ pid: Number(entry), title, cpuSeconds: cpuSeconds(entry) });
    } catch {
      /* exited meanwhile */
    }
  }
  return found;
}

let postgresUid;
/** The uid PostgreSQL runs as (the owner of its postmaster's process). */
function postgresUidOf() {
  postgresUid ??= Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  return postgresUid;
}

/**
 * Which database a PostgreSQL backend serves, from its process title
 * (`postgres: [cluster: ]<user> <database> <host>(<port>) <state>`); null for
 * the server's own processes (walwriter, checkpointer…).
 */
function backendDatabase(title) {
  return /\s(\S+)\s(\S+)\s(\S+\(\d+\)|\[local\])(\s|$)/.exec(title)?.[2] ?? null;
}

/**
 * CPU seconds used so far by each named process, by each PostgreSQL backend
 * of `database` (the CPU PostgreSQL spends for this benchmark, apart from
 * other databases on the same shared server), and by PostgreSQL's own
 * server processes (walwriter, checkpointer, background writer…: they work
 * for every database at once, this one's WAL included). Two samples make
 * cpuPerCall(). Reads /proc only, in a few milliseconds.
 */
export function cpuSample(pids, database) {
  const processes = {};
  for (const [name, pid] of Object.entries(pids)) {
    try {
      processes[name] = pid ? cpuSeconds(pid) : null;
    } catch {
      processes[name] = null;
    }
  }
  const backends = new Map();
  const server = new Map();
  for (const process of processesOf(postgresUidOf())) {
    const served = backendDatabase(process.title);
    if (served === null) server.set(process.pid, process.cpuSeconds);
    else if (database && served === database) backends.set(process.pid, process.cpuSeconds);
  }
  return { processes, backends, server };
}

/** CPU seconds the processes of `after` used since `before` (a process new since then counts from zero). */
function usedSince(before, after) {
  let seconds = 0;
  for (const [pid, used] of after) seconds += used - (before.get(pid) ?? 0);
  return seconds;
}

/**
 * CPU seconds each process used between two samples. A backend that
 * appeared in between counts from zero (it was born during the run); one that
 * exited in between is missing (pools keep theirs open).
 */
export function cpuSecondsBetween(before, after) {
  const result = {};
  for (const [name, seconds] of Object.entries(after.processes)) {
    const start = before.processes[name];
    result[name] = seconds === null || start === null || start === undefined ? null : seconds - start;
  }
  if (after.backends.size > 0) result.postgresBackends = usedSince(before.backends, after.backends);
  result.postgresServer = usedSince(before.server, after.server);
  return result;
}

/** Microseconds of CPU per call of each process between two samples (see cpuSecondsBetween). */
export function cpuPerCall(before, after, calls) {
  return Object.fromEntries(
    Object.entries(cpuSecondsBetween(before, after)).map(([name, seconds]) => [
      name,
      seconds === null || calls <= 0 ? null : Math.round((seconds * 1e6) / calls),
    ]),
  );
}

const CPU_NAMES = {
  accountsManager: 'accounts-manager',
  postgresBackends: 'its PostgreSQL backends',
  postgresServer: 'PostgreSQL server processes (shared by every database)',
  stack: 'stack (log relay)',
  loadGenerator: 'load generator',
};

/** "accounts-manager 105 µs, its PostgreSQL backends 180 µs, …" from cpuPerCall()'s result. */
export function describeCpuPerCall(cpu) {
  if (!cpu) return 'not measured';
  return Object.entries(cpu)
    .filter(([, micros]) => micros !== null && micros !== undefined)
    .map(([name, micros]) => `${CPU_NAMES[name] ?? name} ${micros} µs`)
    .join(', ');
}
