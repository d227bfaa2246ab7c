import type pg from 'pg';
import { nextDay, partitionDay, quoteIdent, withLock } from './archive.sql.js';
import type { DayExport } from './retention-export.sql.js';

/**
 * Retention: an archived day is kept in the database until ARCHIVE_RETENTION
 * (default 7 years, config.ts) after it ended; then `transactions:archive`
 * exports it (retention-export.sql.ts) and drops it here, in ONE database
 * transaction holding the archive lock (archive.sql.ts, which ledger:verify
 * waits for):
 *   1. the day's row count must equal its export's, or nothing happens;
 *   2. the day's per-account net (successful legs: credits minus debits) is
 *      added to archive.opening_balances, so each balance still equals its
 *      opening balance plus its kept successful legs — ledger:verify exactly;
 *   3. the day is recorded in archive.dropped_days (rows, export file, SHA-256),
 *      which GetTransaction and replays read to answer for its request ids;
 *   4. DROP TABLE of the day's partition.
 * A kill at any point rolls all four back and the next run does them; a day
 * that is gone is not found again, so a rerun never carries a day twice.
 * transaction_requests keeps the day's request ids: a replay of one is
 * answered (FAILED_PRECONDITION, never applied again), not taken as new.
 *
 * Raw SQL, on purpose: DDL on the per-day tables the migrations hand-write,
 * and one aggregate over a whole day inserted in the same statement — no
 * entity describes the partitions. Rare: at most a day a day. Measured on a
 * day of 1 000 000 rows (2-core machine shared with other runs, load ~10):
 * the transaction 2.4 s — the count and the carry 2.1 s, then the DROP and
 * its commit 0.36 s, the only part during which reads of archived rows
 * (GetTransaction, archived replays) wait; nothing on the posting path or the
 * report waits (they read only the hot table). The export before it: 28 s,
 * 56 MB gzipped (docs/benchmarks.md, "The archive's cost").
 */

/** Steps of a drop, logged as `step <partition> <step>`; a test can pause at one and kill the process there. */
export type RetentionStep = 'exported' | 'carried' | 'dropped' | 'drop-committed';

export interface DayPastRetention {
  partition: string;
  /** UTC, YYYY-MM-DD. */
  day: string;
  /** `archive` once moved there; `public` for a day transactions:archive has not moved yet. */
  schema: 'public' | 'archive';
}

/** Every daily partition of transactions, hot or archived, oldest first. */
export async function dailyPartitions(db: pg.Pool | pg.PoolClient): Promise<DayPastRetention[]> {
  const { rows } = await db.query<{ name: string; schema: 'public' | 'archive' }>(`
    SELECT c.relname AS name, n.nspname AS schema
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname IN ('public', 'archive')
    WHERE c.relkind = 'r' AND c.relname ~ '^transactions_p[0-9]{8}$'
    ORDER BY c.relname`);
  return rows.map((row) => ({ partition: row.name, day: partitionDay(row.name)!, schema: row.schema }));
}

/**
 * The daily partitions, hot or archived, whose whole day ended at or before
 * now − retention on the database's clock, oldest first.
 */
export async function daysPastRetention(
  db: pg.Pool | pg.PoolClient,
  retentionMs: number,
): Promise<{ cutoff: Date; days: DayPastRetention[] }> {
  const { rows } = await db.query<{ cutoff: Date }>(`SELECT now() - $1::bigint * interval '1 millisecond' AS cutoff`, [
    retentionMs,
  ]);
  const cutoff = rows[0]!.cutoff;
  const days = (await dailyPartitions(db)).filter((row) => new Date(`${nextDay(row.day)}T00:00:00Z`) <= cutoff);
  return { cutoff, days };
}

/**
 * Drops one archived day whose export is `exported` (see above). Returns
 * false when the day is no longer there (another run dropped it first).
 */
export async function dropArchivedDay(
  client: pg.PoolClient,
  partition: string,
  exported: DayExport,
  afterStep?: (step: RetentionStep, partition: string) => Promise<void>,
): Promise<boolean> {
  const table = `archive.${quoteIdent(partition)}`;
  const step = async (name: RetentionStep) => afterStep?.(name, partition);
  const dropped = await withLock(client, async () => {
    const { rows } = await client.query<{ there: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS there`, [
      `archive.${partition}`,
    ]);
    if (!rows[0]!.there) return false;
    const { rows: counted } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
    if (Number(counted[0]!.n) !== exported.rows) {
      throw new Error(
        `${partition} holds ${counted[0]!.n} rows, its export ${exported.file} ${exported.rows}; nothing dropped`,
      );
    }
    await client.query(`
      INSERT INTO archive.opening_balances AS o (account_id, balance, update_time)
      SELECT account_id, sum(amount), now() FROM (
        SELECT to_account_id AS account_id, amount FROM ${table} WHERE status = 'success'
        UNION ALL
        SELECT from_account_id, -amount FROM ${table} WHERE status = 'success') legs
      GROUP BY account_id
      ON CONFLICT (account_id) DO UPDATE SET balance = o.balance + excluded.balance, update_time = excluded.update_time`);
    await client.query(
      `INSERT INTO archive.dropped_days (day, transactions, export_file, export_sha256, dropped_at)
       VALUES ($1, $2, $3, $4, now())`,
      [exported.day, exported.rows, exported.file, exported.sha256],
    );
    await step('carried');
    await client.query(`DROP TABLE ${table}`);
    await step('dropped');
    return true;
  });
  if (dropped) await step('drop-committed');
  return dropped;
}
