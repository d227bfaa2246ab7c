import type pg from 'pg';

/**
 * Moving old daily partitions to cold storage.
 *
 * A partition whose whole day is older than `cutoff` is detached from
 * `transactions` with DETACH PARTITION … CONCURRENTLY (writers, which only
 * touch today's partition, are never blocked) and attached to
 * `archive.transactions`, where ledger:verify, GetTransaction and idempotent
 * replays still find its rows; reports no longer read it.
 */

/**
 * Held (exclusively) while a partition is between the two tables, and
 * (shared) by ledger:verify, so the verifier never sees a ledger with a day
 * of transactions missing.
 */
export const ARCHIVE_LOCK_KEY = 7_242_003;

const PARTITION_NAME = /^transactions_p(\d{4})(\d{2})(\d{2})$/;

export interface ArchiveLog {
  info(object: object, message: string): void;
}

export interface ArchiveResult {
  /** Partitions moved to the archive by this run (finishing interrupted moves included). */
  archived: string[];
  /** Hot partitions kept. */
  kept: number;
}

/** The day (UTC, YYYY-MM-DD) a partition holds, from its name; null for a table that is not one of ours. */
export function partitionDay(name: string): string | null {
  const match = PARTITION_NAME.exec(name);
  return match ? `${match[1]}-${match[2]}-${match[3]}` : null;
}

/** The first UTC midnight after `day`. */
function nextDay(day: string): string {
  const next = new Date(`${day}T00:00:00Z`);
  next.setUTCDate(next.getUTCDate() + 1);
  return next.toISOString().slice(0, 10);
}

/**
 * Archives every hot partition whose day ends at or before `cutoff`. Safe to
 * run again at any time: a move interrupted half-way (a crash between
 * detaching and attaching) is finished by the next run.
 */
export async function archiveOldPartitions(
  pool: pg.Pool,
  cutoff: Date,
  log: ArchiveLog,
  dryRun = false,
): Promise<ArchiveResult> {
  const client = await pool.connect();
  try {
    const archived: string[] = [];
    const { rows } = await client.query<{ name: string; attached: boolean; detach_pending: boolean }>(`
      SELECT c.relname AS name, i.inhrelid IS NOT NULL AS attached, coalesce(i.inhdetachpending, false) AS detach_pending
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
      LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
      WHERE c.relkind = 'r' AND c.relname ~ '^transactions_p[0-9]{8}$'
      ORDER BY c.relname`);
    let kept = 0;
    for (const row of rows) {
      const day = partitionDay(row.name)!;
      const dayEnd = new Date(`${nextDay(day)}T00:00:00Z`);
      if (dayEnd > cutoff) {
        kept++;
        continue;
      }
      if (dryRun) {
        log.info({ partition: row.name }, 'would archive');
        archived.push(row.name);
        continue;
      }
      await moveToArchive(client, row.name, day, row.attached, row.detach_pending);
      log.info({ partition: row.name }, 'archived');
      archived.push(row.name);
    }
    return { archived, kept };
  } finally {
    client.release();
  }
}

async function moveToArchive(
  client: pg.PoolClient,
  name: string,
  day: string,
  attached: boolean,
  detachPending: boolean,
): Promise<void> {
  const table = `public.${quoteIdent(name)}`;
  await client.query('SELECT pg_advisory_lock($1)', [ARCHIVE_LOCK_KEY]);
  try {
    if (attached && detachPending) {
      // An earlier run was interrupted during the concurrent detach.
      await client.query(`ALTER TABLE public.transactions DETACH PARTITION ${table} FINALIZE`);
    } else if (attached) {
      // Must run outside a transaction block: this connection is in autocommit.
      await client.query(`ALTER TABLE public.transactions DETACH PARTITION ${table} CONCURRENTLY`);
    }
    await client.query('BEGIN');
    try {
      await client.query(`ALTER TABLE ${table} SET SCHEMA archive`);
      await client.query(
        `ALTER TABLE archive.transactions ATTACH PARTITION archive.${quoteIdent(name)}
         FOR VALUES FROM ('${day} 00:00:00+00') TO ('${nextDay(day)} 00:00:00+00')`,
      );
      // Its hours' sealed counts described hot rows; the day is no longer hot.
      await client.query(
        `DELETE FROM report_hour_counts WHERE hour_start >= $1::timestamptz AND hour_start < $2::timestamptz`,
        [`${day} 00:00:00+00`, `${nextDay(day)} 00:00:00+00`],
      );
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [ARCHIVE_LOCK_KEY]).catch(() => undefined);
  }
}

/** Partition names come from pg_class and match PARTITION_NAME; quoted anyway. */
function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
