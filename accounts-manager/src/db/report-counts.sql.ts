import type pg from 'pg';
import { REPORT_COUNTS_LOCK_KEY, vacuumWhenDead } from './report-live-counts.sql.js';

/**
 * Exact report totals without counting millions of rows. Raw SQL, on purpose:
 * marking and sealing a minute need pg_current_xact_id() and the statement's
 * own snapshot (pg_snapshot_xmin(pg_current_snapshot())), and it is what keeps a
 * report's first page at p50 3.4 ms over 1 000 000 rows instead of ~150 ms of
 * counting (docs/benchmarks.md, "Report"). The table is described by its
 * entity (entities/report-count.entity.ts).
 *
 * A listing's first page carries total_size: the rows of its window that its
 * snapshot sees. Counting them row by row costs ~150 ms per million. Instead,
 * each finished minute of transactions is counted once and "sealed", and a
 * listing adds up the sealed minutes inside its window, the live counts of the
 * minutes not sealed yet (report-live-counts.sql.ts: kept by the transactions
 * that write the rows) and a row count of the two partial minutes at its edges.
 *
 * Why a sealed count is exact for every later snapshot: ledger_post() gives a
 * row create_time = clock_timestamp() only after its transaction holds an xid.
 * 1. Mark: once a minute has ended (plus MARK_DELAY of slack for the clock),
 *    take a fresh xid X. Every transaction that can still write into that
 *    minute already had its xid, so it is below X; later xids write later minutes.
 * 2. Seal: once every xid below X has finished (X < xmin of the snapshot),
 *    the minute's rows are final: count them once.
 * A snapshot taken after the seal sees exactly those rows — no more can
 * appear, none of them is still in flight. The mark and seal run from a
 * timer in every accounts-manager; doing it twice is harmless.
 *
 * xid marks are xids of the cluster that took them: when the ledger begins a
 * new epoch on another cluster (a restore, ledger-epochs.sql.ts) the unsealed
 * marks are dropped and taken again there; sealed counts stay, every row they
 * counted having come along (and so do the live counts, restored with their rows).
 *
 * The contract this rests on: transaction rows are written by INSERT (and
 * the group commit's let-go rows removed by DELETE), which the triggers count
 * live. Code that writes history otherwise (ATTACH PARTITION in the
 * benchmark's seed, rows written into a minute already sealed) calls
 * forgetReportCounts() afterwards.
 */
export const REPORT_COUNTS_INTERVAL_MS = 60_000;
const MARK_DELAY = "interval '5 minutes'";
/** The width of a counted bucket (report_counts.bucket_start is truncated to it). */
export const BUCKET = "interval '1 minute'";

export interface ReportCountsMaintenance {
  marked: number;
  sealed: number;
  /** Whether it vacuumed report_counts (see vacuumWhenDead). */
  vacuumed: boolean;
}

/**
 * Dead rows of report_counts that make maintenance vacuum it: about an hour of sealing.
 * Every minute of report_counts is written twice (marked, then sealed), which
 * leaves a dead row behind, and every first page sums the window's 7 200
 * minutes: among as many dead rows that sum took 3.4–6.8 ms, after a VACUUM
 * 0.9–1.1 ms (the benchmark's ledger, one row per minute of 5 days) — a table
 * of some 60 pages, milliseconds to vacuum.
 */
export const VACUUM_AFTER_DEAD_ROWS = 60;

/** Marks minutes that ended since `oldest`, seals the marked ones whose writers have all finished, forgets older ones. */
export async function maintainReportCounts(pool: pg.Pool, oldest: Date): Promise<ReportCountsMaintenance> {
  // The minutes' end is read from the clock before the xid is taken (row by row, after the series is computed).
  const marked = await pool.query(
    `INSERT INTO report_counts (bucket_start, xid_mark, marked_at)
     SELECT bucket, pg_current_xact_id(), clock_timestamp()
     FROM generate_series(date_trunc('minute', $1::timestamptz), clock_timestamp() - ${BUCKET} - ${MARK_DELAY}, ${BUCKET}) AS bucket
     ON CONFLICT (bucket_start) DO NOTHING`,
    [oldest],
  );
  // pg_current_snapshot() is this statement's snapshot: the one the counts are taken in.
  const sealed = await pool.query(
    `UPDATE report_counts c
        SET row_count = (SELECT count(*) FROM transactions t
                         WHERE t.create_time >= c.bucket_start AND t.create_time < c.bucket_start + ${BUCKET}),
            sealed_at = clock_timestamp()
      WHERE c.row_count IS NULL AND c.xid_mark < pg_snapshot_xmin(pg_current_snapshot())`,
  );
  // Old sealed counts and old live counts go together: a minute below the first sealed one is counted row by row.
  await pool.query(
    `WITH sealed AS (DELETE FROM report_counts WHERE bucket_start < $1::timestamptz - interval '1 day')
     DELETE FROM report_live_counts WHERE bucket_start < $1::timestamptz - interval '1 day'`,
    [oldest],
  );
  const vacuumed = await vacuumWhenDead(pool, 'report_counts', VACUUM_AFTER_DEAD_ROWS);
  return { marked: marked.rowCount ?? 0, sealed: sealed.rowCount ?? 0, vacuumed };
}

/**
 * For whoever wrote rows past the triggers (see above): every mark and sealed
 * count goes (they are taken again) and each minute is counted again from its
 * rows, as one live count. Under REPORT_COUNTS_LOCK_KEY, in a transaction of
 * its own on `db` (a pool's connection, or a client not in a transaction).
 * Exact under concurrent postings, as compaction is: rows the recount does not
 * see (their transactions still in flight) keep their own live counts.
 */
export async function forgetReportCounts(db: pg.Pool | pg.ClientBase): Promise<void> {
  const client = 'totalCount' in db ? await db.connect() : db;
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [REPORT_COUNTS_LOCK_KEY]);
    await client.query('DELETE FROM report_counts');
    await client.query(`
      WITH dropped AS (DELETE FROM report_live_counts)
      INSERT INTO report_live_counts (bucket_start, xact_id, row_count)
      SELECT date_trunc('minute', create_time), pg_current_xact_id(), count(*) FROM transactions GROUP BY 1`);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    if (client !== db) (client as pg.PoolClient).release();
  }
}
