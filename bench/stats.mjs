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
