// Latency statistics: exact percentiles over every sample (no histogram
// buckets), so p99 means the 99th percentile of the calls actually made.

/** The p-th percentile (0–100) of `sorted` (ascending), nearest-rank. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** Summary of latencies in milliseconds. */
export function summarize(latenciesMs) {
  const sorted = Float64Array.from(latenciesMs).sort();
  return {
    count: sorted.length,
    p50Ms: round(percentile(sorted, 50)),
    p99Ms: round(percentile(sorted, 99)),
    maxMs: round(sorted.length ? sorted[sorted.length - 1] : null),
  };
}

export const round = (value, digits = 2) =>
  value === null || value === undefined ? null : Number(value.toFixed(digits));
export const ratio = (value, anchor) => (value && anchor ? round(value / anchor, 2) : null);

/**
 * Load runs (bench/load.mjs results) of one kind in one: calls and time summed, the worst p50, p99
 * and max, CPU per call weighted by each run's calls, outcomes and errors added up.
 */
export function combineRuns(runs) {
  const sum = (of) => runs.reduce((total, run) => total + of(run), 0);
  const calls = sum((run) => run.calls);
  const names = new Set(runs.flatMap((run) => Object.keys(run.cpuMicrosPerCall ?? {})));
  const cpuMicrosPerCall = Object.fromEntries(
    [...names].map((name) => [name, Math.round(sum((run) => (run.cpuMicrosPerCall?.[name] ?? 0) * run.calls) / calls)]),
  );
  const counts = (field) => {
    const total = {};
    for (const run of runs)
      for (const [key, count] of Object.entries(run[field] ?? {})) total[key] = (total[key] ?? 0) + count;
    return total;
  };
  return {
    runs: runs.length,
    calls,
    rps: round(calls / sum((run) => run.calls / run.rps), 1),
    p50Ms: Math.max(...runs.map((run) => run.p50Ms)),
    p99Ms: Math.max(...runs.map((run) => run.p99Ms)),
    maxMs: Math.max(...runs.map((run) => run.maxMs ?? 0)),
    cpuMicrosPerCall,
    outcomes: counts('outcomes'),
    errors: counts('errors'),
  };
}
