import type pg from 'pg';

/** A minute whose rows differ from what a listing would add up for it. */
export interface MiscountedMinute {
  bucketStart: Date;
  rows: bigint;
  /** Its sealed count, else the sum of its live counts (0 for neither). */
  counted: bigint;
}

export interface ReportCountsVerification {
  /** Minutes from the first sealed one on (the ones a listing counts by the minute). */
  minutesChecked: number;
  miscounted: MiscountedMinute[];
}

/**
 * Checks the invariant a listing's total_size rests on (report-live-counts.sql.ts):
 * from the first sealed minute on, every minute's rows are its sealed count if
 * it has one, else the sum of its live counts. Raw SQL, on purpose: one
 * aggregate over every hot row, in one REPEATABLE READ snapshot (the invariant
 * holds in any snapshot). Not a service path: `npm run ledger:verify` and the tests run it.
 */
export async function verifyReportCounts(pool: pg.Pool): Promise<ReportCountsVerification> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const { rows } = await client.query<{ bucket_start: Date; rows: string; counted: string; checked: string }>(`
      WITH r AS (SELECT date_trunc('minute', create_time) AS b, count(*) AS n FROM transactions GROUP BY 1),
      s AS (SELECT bucket_start AS b, row_count AS n FROM report_counts WHERE row_count IS NOT NULL),
      l AS (SELECT bucket_start AS b, sum(row_count) AS n FROM report_live_counts GROUP BY 1),
      minutes AS (
        SELECT b, coalesce(r.n, 0) AS rows, coalesce(s.n, l.n, 0) AS counted
        FROM r FULL JOIN s USING (b) FULL JOIN l USING (b)
        WHERE b >= (SELECT min(b) FROM s))
      -- One row even when no minute differs: it carries the number checked.
      SELECT m.b AS bucket_start, m.rows, m.counted, (SELECT count(*) FROM minutes) AS checked
      FROM (SELECT NULL) one LEFT JOIN minutes m ON m.rows <> m.counted
      ORDER BY m.b LIMIT 100`);
    await client.query('COMMIT');
    return {
      minutesChecked: Number(rows[0]?.checked ?? 0),
      miscounted: rows
        .filter((row) => row.bucket_start !== null)
        .map((row) => ({ bucketStart: row.bucket_start, rows: BigInt(row.rows), counted: BigInt(row.counted) })),
    };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
