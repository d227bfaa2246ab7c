import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import type pg from 'pg';
import type { ArchiveLog } from './archive.sql.js';
import { ArchiveInputError } from './archive-cutoff.js';
import { exportArchivedDay } from './retention-export.sql.js';
import {
  dailyPartitions,
  type DayPastRetention,
  daysPastRetention,
  dropArchivedDay,
  type RetentionStep,
} from './retention.sql.js';

/**
 * The retention half of `transactions:archive`: each archived day that ended
 * more than ARCHIVE_RETENTION ago is exported to ARCHIVE_EXPORT_DIR, then
 * dropped with its net carried into the opening balances
 * (retention.sql.ts), one day at a time, oldest first.
 */

export interface RetentionSettings {
  /** null: ARCHIVE_RETENTION=off, keep every day. */
  retentionMs: number | null;
  exportDir: string | null;
}

export interface RetentionResult {
  /** Days dropped by this run (or that would be, in a dry run). */
  dropped: string[];
  /** Days archived and still within retention. */
  kept: number;
}

/**
 * Checked before anything moves: a set ARCHIVE_EXPORT_DIR must be a writable
 * directory, and days past retention need one. Throws ArchiveInputError
 * naming the variable.
 */
export async function checkRetentionSettings(pool: pg.Pool, settings: RetentionSettings): Promise<void> {
  if (settings.retentionMs === null) return;
  if (settings.exportDir !== null) {
    const usable = await stat(settings.exportDir)
      .then((s) => s.isDirectory() && access(settings.exportDir!, constants.W_OK).then(() => true))
      .catch(() => false);
    if (!usable) {
      throw new ArchiveInputError(
        `ARCHIVE_EXPORT_DIR ${settings.exportDir} is not a directory this command can write to; nothing moved`,
      );
    }
    return;
  }
  const { days } = await daysPastRetention(pool, settings.retentionMs);
  if (days.length > 0) {
    throw new ArchiveInputError(
      `ARCHIVE_EXPORT_DIR is not set: ${days.length} day(s) (from ${days[0]!.day}) ended more than ARCHIVE_RETENTION ago ` +
        'and are exported there before they are dropped; set it (or ARCHIVE_RETENTION=off to keep them); nothing moved',
    );
  }
}

export interface RetentionRunOptions {
  dryRun?: boolean;
  /** In a dry run, the hot partitions the move would have archived: counted as archived. */
  wouldArchive?: readonly string[];
  afterStep?: (step: RetentionStep, partition: string) => Promise<void>;
}

/** Exports and drops every archived day past retention, oldest first. */
export async function applyRetention(
  pool: pg.Pool,
  settings: RetentionSettings,
  log: ArchiveLog,
  options: RetentionRunOptions = {},
): Promise<RetentionResult> {
  const archived = (d: DayPastRetention) =>
    d.schema === 'archive' || (!!options.dryRun && !!options.wouldArchive?.includes(d.partition));
  const client = await pool.connect();
  try {
    const due = settings.retentionMs === null ? [] : (await daysPastRetention(client, settings.retentionMs)).days;
    const dropped: string[] = [];
    for (const day of due.filter(archived)) {
      if (options.dryRun) log.info({ partition: day.partition }, 'would export and drop');
      if (options.dryRun || (await exportAndDrop(client, settings.exportDir!, day, log, options))) {
        dropped.push(day.day);
      }
    }
    const kept = (await dailyPartitions(client)).filter(archived).length - (options.dryRun ? dropped.length : 0);
    return { dropped, kept };
  } finally {
    client.release();
  }
}

/** One day: its export (checkRetentionSettings made sure there is a directory), then the drop. */
async function exportAndDrop(
  client: pg.PoolClient,
  exportDir: string,
  { partition, day }: DayPastRetention,
  log: ArchiveLog,
  options: RetentionRunOptions,
): Promise<boolean> {
  const step = async (name: RetentionStep, table: string) => {
    log.info({ partition: table, step: name }, 'step');
    await options.afterStep?.(name, table);
  };
  const exported = await exportArchivedDay(client, exportDir, partition, day);
  await step('exported', partition);
  const dropped = await dropArchivedDay(client, partition, exported, step);
  if (dropped) log.info({ partition }, `dropped past retention, exported to ${exported.file}`);
  return dropped;
}
