import type pg from 'pg';

/**
 * Exact report totals without counting a million rows. Raw SQL, on purpose:
 * marking and sealing an hour need pg_current_xact_id() and the statement's own
 * snapshot (pg_snapshot_xmin(pg_current_snapshot())), and it is what keeps a
 * report's first page at p50 3.4 ms over 1 000 000 rows instead of ~150 ms of
 * counting (docs/benchmarks.md, "Report"). The table is described by its
 * entity (entities/report-hour-count.entity.ts).
 *
 * A listing's first page carries total_size: the rows of its window that its
 * snapshot sees. Counting them row by row costs ~150 ms per million. Instead,
 * each finished hour of transactions is counted once and "sealed", and a
 * listing adds up the sealed hours inside its window plus a row count of the
 * edges (the partial first hour and the hours not sealed yet).
 *
 * Why a sealed count is exact for every later snapshot: ledger_post() gives a
 * row create_time = clock_timestamp() only after its transaction holds an xid.
 * 1. Mark: once an hour has ended (plus MARK_DELAY of slack for the clock),
 *    take a fresh xid X. Every transaction that can still write into that
 *    hour already had its xid, so it is below X; later xids write later hours.
 * 2. Seal: once every xid below X has finished (X < xmin of the snapshot),
 *    the hour's rows are final: count them once.
 * A snapshot taken after the seal sees exactly those rows — no more can
 * appear, none of them is still in flight. The mark and seal run from a
 * timer in every accounts-manager; doing it twice is harmless.
 *
 * xid marks are xids of the cluster that took them: when the ledger begins a
 * new epoch on another cluster (a restore, ledger-epochs.sql.ts) the unsealed
 * marks are dropped and taken again there; sealed counts stay, every row they
 * counted having come along.
 *
 * The contract this rests on: transaction rows are written by ledger_post()
 * only. Code that writes history directly (tests, the benchmark's seed) calls
 * forgetReportCounts() afterwards.
 */
export const REPORT_COUNTS_INTERVAL_MS = 60_000;
const MARK_DELAY = "interval '5 minutes'";

export interface ReportCountsMaintenance {
  marked: number;
  sealed: number;
}

/** Marks hours that ended since `oldest`, seals the marked ones whose writers have all finished, forgets older ones. */
export async function maintainReportCounts(pool: pg.Pool, oldest: Date): Promise<ReportCountsMaintenance> {
  // The hours' end is read from the clock before the xid is taken (row by row, after the series is computed).
  const marked = await pool.query(
    `INSERT INTO report_hour_counts (hour_start, xid_mark, marked_at)
     SELECT hour, pg_current_xact_id(), clock_timestamp()
     FROM generate_series(date_trunc('hour', $1::timestamptz), clock_timestamp() - interval '1 hour' - ${MARK_DELAY}, interval '1 hour') AS hour
     ON CONFLICT (hour_start) DO NOTHING`,
    [oldest],
  );
  // pg_current_snapshot() is this statement's snapshot: the one the counts are taken in.
  const sealed = await pool.query(
    `UPDATE report_hour_counts c
        SET row_count = (SELECT count(*) FROM transactions t
                         WHERE t.create_time >= c.hour_start AND t.create_time < c.hour_start + interval '1 hour'),
            sealed_at = clock_timestamp()
      WHERE c.row_count IS NULL AND c.xid_mark < pg_snapshot_xmin(pg_current_snapshot())`,
  );
  await pool.query(`DELETE FROM report_hour_counts WHERE hour_start < $1::timestamptz - interval '1 day'`, [oldest]);
  return { marked: marked.rowCount ?? 0, sealed: sealed.rowCount ?? 0 };
}

/** Drops every mark and count (they are taken again): for whoever wrote rows into past hours directly. */
export async function forgetReportCounts(pool: pg.Pool | pg.PoolClient): Promise<void> {
  await pool.query('DELETE FROM report_hour_counts');
}
