import type pg from 'pg';
import { readReportHorizon } from './report-horizon.sql.js';
import { REPORT_COUNTS_LOCK_KEY } from './report-live-counts.sql.js';

/**
 * Moving old daily partitions to cold storage. Raw SQL, on purpose: it is DDL
 * (DETACH PARTITION … CONCURRENTLY, SET SCHEMA, ATTACH PARTITION) on the
 * partitioning the migrations hand-write; no entity or EntityManager call
 * expresses it.
 *
 * A partition whose whole day ended before the cutoff moves from
 * `transactions` to `archive.transactions` in ONE database transaction:
 * DETACH PARTITION (without CONCURRENTLY, which is transactional), SET SCHEMA,
 * ATTACH PARTITION, and forgetting its minutes' sealed and live counts. Every other
 * session sees the day either hot or archived, never in between, so
 * ledger:verify, GetTransaction (by id and request id) and idempotent replays,
 * which read `ledger_transactions_all` (both tables), always find its rows; a
 * crash or a kill at any point rolls the move back and the next run does it.
 *
 * The price is a brief ACCESS EXCLUSIVE lock on `transactions`: the
 * transaction only changes catalogs (the attach's range check is proved by a
 * CHECK constraint validated beforehand, without blocking anyone, and the
 * partition already has every index the archive needs), and it waits at most
 * LOCK_TIMEOUT for the lock, so writers queue behind it for milliseconds, not
 * for a long report page; when it cannot get the lock it retries later.
 */

/**
 * Held (exclusively) while a partition moves, and (shared) by ledger:verify,
 * so the verifier never runs across a move.
 */
export const ARCHIVE_LOCK_KEY = 7_242_003;

const PARTITION_NAME = /^transactions_p(\d{4})(\d{2})(\d{2})$/;
const LOCK_TIMEOUT = '2s';
const LOCK_ATTEMPTS = 5;
const LOCK_RETRY_PAUSE_MS = 1_000;
const LOCK_NOT_AVAILABLE = '55P03';

/** The steps of one move, logged as `step <partition> <step>`; a test can pause at one and kill the process there. */
export type ArchiveStep = 'prepared' | 'detached' | 'attached' | 'committed';

export interface ArchiveLog {
  info(object: object, message: string): void;
}

export interface ArchiveRunOptions {
  dryRun?: boolean;
  /**
   * Called inside each move's transaction, once it holds its locks: the
   * cutoff as it is now. A day that no longer ends before it is left hot.
   */
  recheckCutoff?: (client: pg.PoolClient) => Promise<Date>;
  /** Called after each step (tests pause here to kill the process); the move waits for it. */
  afterStep?: (step: ArchiveStep, partition: string) => Promise<void>;
}

export interface ArchiveResult {
  /** Partitions moved to the archive by this run (finishing interrupted moves included). */
  archived: string[];
  /** Hot partitions kept. */
  kept: number;
}

interface PartitionRow {
  name: string;
  attached: boolean;
  detach_pending: boolean;
}

/** The day (UTC, YYYY-MM-DD) a partition holds, from its name; null for a table that is not one of ours. */
export function partitionDay(name: string): string | null {
  const match = PARTITION_NAME.exec(name);
  return match ? `${match[1]}-${match[2]}-${match[3]}` : null;
}

/** The first UTC midnight after `day`. */
export function nextDay(day: string): string {
  const next = new Date(`${day}T00:00:00Z`);
  next.setUTCDate(next.getUTCDate() + 1);
  return next.toISOString().slice(0, 10);
}

/** Every daily partition in the hot schema, attached or left detached by the earlier two-step version. */
const HOT_PARTITIONS = `
  SELECT c.relname AS name, i.inhrelid IS NOT NULL AS attached, coalesce(i.inhdetachpending, false) AS detach_pending
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
  LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
  WHERE c.relkind = 'r' AND c.relname ~ '^transactions_p[0-9]{8}$'
  ORDER BY c.relname`;

/** Whether the partition `name` holds a day that ended at or before `cutoff`. */
const endedBy = (name: string, cutoff: Date) => new Date(`${nextDay(partitionDay(name)!)}T00:00:00Z`) <= cutoff;

/**
 * How many hot days the archive would move now (their day ended before the report horizon):
 * exported as ledger_archive_due_days. A daily archive keeps it at 0–2; more means runs were missed
 * (deploy/prometheus/ledger-alerts.rules.yml, LedgerArchiveOverdue). 0 before any server recorded a horizon.
 */
export async function archiveDueDays(pool: pg.Pool): Promise<number> {
  const horizon = await readReportHorizon(pool);
  if (!horizon) return 0;
  const { rows } = await pool.query<PartitionRow>(HOT_PARTITIONS);
  return rows.filter((row) => endedBy(row.name, horizon.horizon)).length;
}

/**
 * Archives every hot partition whose day ends at or before `cutoff`. Safe to
 * run again at any time and to kill at any point. A partition left detached
 * by the earlier, two-step version of this command is put back where it
 * belongs (archived if old enough, re-attached otherwise).
 */
export async function archiveOldPartitions(
  pool: pg.Pool,
  cutoff: Date,
  log: ArchiveLog,
  options: ArchiveRunOptions = {},
): Promise<ArchiveResult> {
  const client = await pool.connect();
  try {
    const archived: string[] = [];
    const { rows } = await client.query<PartitionRow>(HOT_PARTITIONS);
    let kept = 0;
    for (const row of rows) {
      const day = partitionDay(row.name)!;
      if (!endedBy(row.name, cutoff)) {
        if (!row.attached && !options.dryRun) await reattachHot(client, row.name, day);
        kept++;
        continue;
      }
      if (options.dryRun) {
        log.info({ partition: row.name }, 'would archive');
      } else {
        if (!(await moveToArchive(client, row, day, log, options))) {
          log.info({ partition: row.name }, 'kept: the report horizon moved back');
          kept++;
          continue;
        }
        log.info({ partition: row.name }, 'archived');
      }
      archived.push(row.name);
    }
    return { archived, kept };
  } finally {
    client.release();
  }
}

async function moveToArchive(
  client: pg.PoolClient,
  row: PartitionRow,
  day: string,
  log: ArchiveLog,
  options: ArchiveRunOptions,
): Promise<boolean> {
  const step = async (name: ArchiveStep) => {
    log.info({ partition: row.name, step: name }, 'step');
    await options.afterStep?.(name, row.name);
  };
  const table = `public.${quoteIdent(row.name)}`;
  if (row.detach_pending) {
    // Left by the earlier version's DETACH … CONCURRENTLY: finish it, then move the table below.
    await client.query(`ALTER TABLE public.transactions DETACH PARTITION ${table} FINALIZE`);
    row = { ...row, attached: false };
  }
  await proveDayBounds(client, table, day);
  await step('prepared');
  const moved = await withLock(client, async () => {
    // Taken before any table lock: compaction, which holds it, never waits for the tables (report-live-counts.sql.ts).
    await client.query('SELECT pg_advisory_xact_lock($1)', [REPORT_COUNTS_LOCK_KEY]);
    const cutoff = await options.recheckCutoff?.(client);
    if (cutoff && new Date(`${nextDay(day)}T00:00:00Z`) > cutoff) return false;
    if (row.attached) await client.query(`ALTER TABLE public.transactions DETACH PARTITION ${table}`);
    await step('detached');
    await client.query(`ALTER TABLE ${table} SET SCHEMA archive`);
    await client.query(
      `ALTER TABLE archive.transactions ATTACH PARTITION archive.${quoteIdent(row.name)} ${bounds(day)}`,
    );
    // Its minutes' sealed and live counts described hot rows; the day is no longer hot.
    await client.query(
      `WITH sealed AS (DELETE FROM report_counts WHERE bucket_start >= $1::timestamptz AND bucket_start < $2::timestamptz)
       DELETE FROM report_live_counts WHERE bucket_start >= $1::timestamptz AND bucket_start < $2::timestamptz`,
      [`${day} 00:00:00+00`, `${nextDay(day)} 00:00:00+00`],
    );
    await step('attached');
    return true;
  });
  if (moved) await step('committed');
  else if (!row.attached) await reattachHot(client, row.name, day);
  return moved;
}

/** A partition the earlier version left detached whose day is still hot goes back into `transactions`. */
async function reattachHot(client: pg.PoolClient, name: string, day: string): Promise<void> {
  await client.query(`ALTER TABLE public.transactions ATTACH PARTITION public.${quoteIdent(name)} ${bounds(day)}`);
}

/**
 * A validated CHECK constraint equal to the day's range lets ATTACH skip its
 * scan of the day's rows (done inside the move, under the lock). VALIDATE
 * takes only a SHARE UPDATE EXCLUSIVE lock: readers and writers go on.
 */
async function proveDayBounds(client: pg.PoolClient, table: string, day: string): Promise<void> {
  const constraint = quoteIdent(`archive_day_${day.replace(/-/g, '')}`);
  await client.query(
    `DO $$ BEGIN
       ALTER TABLE ${table} ADD CONSTRAINT ${constraint}
         CHECK (create_time >= '${day} 00:00:00+00' AND create_time < '${nextDay(day)} 00:00:00+00') NOT VALID;
     EXCEPTION WHEN duplicate_object THEN NULL;
     END $$`,
  );
  await client.query(`ALTER TABLE ${table} VALIDATE CONSTRAINT ${constraint}`);
}

/**
 * Runs `move` in one transaction holding the archive lock, waiting at most
 * LOCK_TIMEOUT for each lock; on a lock timeout everything rolls back and it
 * tries again a little later. `move` says whether to commit. The retention's
 * drops (retention.sql.ts) run in it too.
 */
export async function withLock(client: pg.PoolClient, move: () => Promise<boolean>): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    await client.query('BEGIN');
    try {
      await client.query(`SET LOCAL lock_timeout = '${LOCK_TIMEOUT}'`);
      await client.query('SELECT pg_advisory_xact_lock($1)', [ARCHIVE_LOCK_KEY]);
      const moved = await move();
      await client.query(moved ? 'COMMIT' : 'ROLLBACK');
      return moved;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      const lockTimeout = (error as { code?: string }).code === LOCK_NOT_AVAILABLE;
      if (!lockTimeout || attempt >= LOCK_ATTEMPTS) throw error;
      await new Promise((resolve) => setTimeout(resolve, LOCK_RETRY_PAUSE_MS * attempt));
    }
  }
}

function bounds(day: string): string {
  return `FOR VALUES FROM ('${day} 00:00:00+00') TO ('${nextDay(day)} 00:00:00+00')`;
}

/** Partition names come from pg_class and match PARTITION_NAME; quoted anyway. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
