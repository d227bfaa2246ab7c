import type pg from 'pg';

/**
 * Row counts of the minutes not sealed yet, kept by the transactions that
 * write the rows — what lets a report's first page skip counting them. Raw
 * SQL, on purpose: an advisory lock, a DELETE … RETURNING folded into an
 * INSERT in one statement, VACUUM — none of it an EntityManager query. The
 * table is described by its entity (entities/report-live-count.entity.ts),
 * the triggers that write it by their migration
 * (migrations/Migration20261213000000_report_live_counts.ts).
 *
 * Sealed counts (report-counts.sql.ts) cover minutes that ended more than the
 * 5-minute mark delay ago. Before, a listing counted everything later row by
 * row: under sustained writes 5–7 minutes of rows, ~1.1 million at 3 238
 * transfers a second, and a first page of p50 330–380 ms (docs/benchmarks.md).
 *
 * Why a live count is exact for any snapshot: the triggers on transactions
 * add (minute, its xid, rows it inserted less rows it deleted) in the
 * transaction that inserts or deletes the rows. A snapshot sees that row
 * exactly when it sees those rows: both committed together, or neither. So
 * for a minute without a sealed count, the live counts a listing's statement
 * sees add up to the rows its snapshot sees.
 *
 * The invariant a listing relies on: from the first sealed minute on, every
 * minute's rows are its sealed count if it has one, else the sum of its live
 * counts. The migration made it true (it counted every unsealed minute once);
 * the triggers keep it for every INSERT and DELETE; sealing leaves live
 * counts in place (a listing ignores them once the minute is sealed;
 * compaction drops them); cleanup drops old sealed counts and old live counts
 * together. Rows changed any other way (ATTACH or DETACH PARTITION, an UPDATE
 * of create_time, TRUNCATE, rows copied with triggers off, a DELETE in a
 * sealed minute) break it: whoever does that calls forgetReportCounts().
 *
 * Compaction: every posting statement adds a row, thousands a second, so
 * every COMPACT_INTERVAL_MS one accounts-manager folds the committed rows into
 * one row per minute — DELETE … RETURNING and INSERT in one statement, so any
 * snapshot sees either the rows or their sum. A transaction still in flight
 * is not seen by it: its row stays and is folded next time.
 */

/** How often live counts are folded: a listing sums at most about this long's postings, plus a row per minute. */
export const COMPACT_INTERVAL_MS = 1_000;

/** Held by whoever rewrites live counts (compaction, forgetting), so two never fold the same rows twice. */
export const REPORT_COUNTS_LOCK_KEY = 7_242_005;

/** Dead rows (compaction leaves one per row it folds) after which compaction vacuums the table: seconds of postings. */
export const LIVE_VACUUM_AFTER_DEAD_ROWS = 20_000;

export interface Compaction {
  /** Live count rows folded (deleted). */
  folded: number;
  /** Rows written for them: one per minute still without a sealed count. */
  written: number;
  vacuumed: boolean;
}

/**
 * Folds the committed live counts into one row per minute and drops those of
 * sealed minutes. Null when another accounts-manager is compacting (it does
 * not wait: its turn comes again in a second).
 */
export async function compactLiveCounts(pool: pg.Pool): Promise<Compaction | null> {
  const client = await pool.connect();
  let result: { folded: string; written: string } | undefined;
  try {
    await client.query('BEGIN');
    const locked = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS locked', [
      REPORT_COUNTS_LOCK_KEY,
    ]);
    if (locked.rows[0]!.locked) {
      // The statement's snapshot is taken after the lock: it sees what the previous holder wrote.
      ({
        rows: [result],
      } = await client.query<{ folded: string; written: string }>(`
        WITH folded AS (DELETE FROM report_live_counts RETURNING bucket_start, row_count),
        written AS (
          INSERT INTO report_live_counts (bucket_start, xact_id, row_count)
          SELECT f.bucket_start, pg_current_xact_id(), sum(f.row_count) FROM folded f
          WHERE NOT EXISTS (SELECT 1 FROM report_counts c WHERE c.bucket_start = f.bucket_start AND c.row_count IS NOT NULL)
          GROUP BY f.bucket_start
          RETURNING 1)
        SELECT (SELECT count(*) FROM folded) AS folded, (SELECT count(*) FROM written) AS written`));
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    client.release(error as Error);
    throw error;
  }
  client.release();
  if (!result) return null;
  const vacuumed = await vacuumWhenDead(pool, 'report_live_counts', LIVE_VACUUM_AFTER_DEAD_ROWS);
  return { folded: Number(result.folded), written: Number(result.written), vacuumed };
}

/**
 * A counts table (sealed or live, both rewritten all the time) vacuumed once
 * `deadRows` are dead, whatever the server's autovacuum is set to: dead rows
 * are what a listing would otherwise step over when it sums the counts.
 * SKIP_LOCKED: another accounts-manager's vacuum of it already does the job.
 * (PostgreSQL's statistics lag by up to a second: rows folded just now count
 * at the next run.)
 */
export async function vacuumWhenDead(
  pool: pg.Pool,
  table: 'report_counts' | 'report_live_counts',
  deadRows: number,
): Promise<boolean> {
  const { rows } = await pool.query<{ dead: string }>(
    'SELECT n_dead_tup AS dead FROM pg_stat_user_tables WHERE relid = $1::regclass',
    [table],
  );
  if (Number(rows[0]?.dead ?? 0) < deadRows) return false;
  await pool.query(`VACUUM (ANALYZE, SKIP_LOCKED) ${table}`);
  return true;
}
