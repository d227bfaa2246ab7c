import type pg from 'pg';

/**
 * Raw SQL, on purpose: it calls ensure_transaction_partitions(), the
 * hand-written function of migrations/Migration20261125000000_ledger.ts
 * (partitions are DDL no entity describes).
 */

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
