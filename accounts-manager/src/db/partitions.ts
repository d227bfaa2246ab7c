import type pg from 'pg';

/** Days of daily partitions kept ready ahead of today, so inserts never lack one. */
export const PARTITION_DAYS_AHEAD = 7;

/** Creates any missing daily partitions from today to PARTITION_DAYS_AHEAD days ahead (UTC). Idempotent. */
export async function ensureTransactionPartitions(pool: pg.Pool): Promise<number> {
  const result = await pool.query<{ created: number }>(
    `SELECT ensure_transaction_partitions((now() AT TIME ZONE 'UTC')::date, (now() AT TIME ZONE 'UTC')::date + $1::int) AS created`,
    [PARTITION_DAYS_AHEAD],
  );
  return result.rows[0]?.created ?? 0;
}
