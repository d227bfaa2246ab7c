/**
 * npm run transactions:archive -w accounts-manager [-- --dry-run] [-- --before=YYYY-MM-DD] [-- --every=24h]
 * 1. Moves daily partitions of transactions that no report can reach any more
 *    to the archive schema. The cutoff is the report horizon the running
 *    servers record in the database (src/db/report-horizon.sql.ts), never this
 *    command's environment.
 * 2. Retention: exports each archived day that ended more than
 *    ARCHIVE_RETENTION ago (default 7y; `off` keeps them) to ARCHIVE_EXPORT_DIR,
 *    then drops it, its net carried into the opening balances
 *    (src/db/retention.sql.ts).
 * Safe to run at any time, e.g. daily, and to kill. `--every=24h` keeps it
 * running, a run a day (cli/archive-every.ts says how it retries and stops).
 * Exit 0 done, 1 failed, 2 input or configuration refused (nothing moved).
 * ARCHIVE_TEST_PAUSE_AT=<step> (tests only) stops after that step of the first
 * move or drop, printing `paused at <step>`, until SIGUSR2, so a test can kill it there.
 */
import pg from 'pg';
import { ConfigError, loadAccountsConfig } from '../config.js';
import { archiveOldPartitions } from '../db/archive.sql.js';
import { archiveCutoff, ArchiveInputError, parseArchiveArgs, type ArchiveOptions } from '../db/archive-cutoff.js';
import { readReportHorizon, readReportHorizonLocked } from '../db/report-horizon.sql.js';
import { applyRetention, checkRetentionSettings } from '../db/retention-run.js';
import { START_TIME_GRACE_MS } from '../reports/report-request.js';
import { archiveEvery } from './archive-every.js';

const log = {
  info: (fields: { partition?: string; step?: string }, message: string) =>
    console.log(`${message} ${fields.partition ?? ''}${fields.step ? ` ${fields.step}` : ''}`),
};
/** Waits after the step ARCHIVE_TEST_PAUSE_AT names until SIGUSR2 (or a kill). */
async function pauseForTests(step: string, partition: string): Promise<void> {
  if (process.env.ARCHIVE_TEST_PAUSE_AT !== step) return;
  const keepAlive = setInterval(() => undefined, 60_000);
  const resumed = new Promise((resolve) => process.once('SIGUSR2', resolve));
  console.log(`paused at ${step} ${partition}`);
  await resumed;
  clearInterval(keepAlive);
}

async function archive(
  pool: pg.Pool,
  config: ReturnType<typeof loadAccountsConfig>,
  options: ArchiveOptions,
): Promise<void> {
  const cutoff = archiveCutoff(
    await readReportHorizon(pool),
    {
      reachMs: process.env.REPORT_WINDOW ? config.reportWindowMs + START_TIME_GRACE_MS : null,
      ttlMs: process.env.REPORT_TOKEN_TTL ? config.reportTokenTtlMs : null,
    },
    options,
  );
  const retention = { retentionMs: config.archiveRetentionMs, exportDir: config.archiveExportDir };
  await checkRetentionSettings(pool, retention);
  const dry = options.dryRun ? ' (dry run)' : '';
  console.log(`transactions:archive: partitions whose day ended before ${cutoff.toISOString()}${dry}`);
  const result = await archiveOldPartitions(pool, cutoff, log, {
    dryRun: options.dryRun,
    recheckCutoff: readReportHorizonLocked,
    afterStep: pauseForTests,
  });
  console.log(
    `${options.dryRun ? 'would archive' : 'archived'} ${result.archived.length} partition(s); ${result.kept} hot partition(s) kept`,
  );
  const kept = await applyRetention(pool, retention, log, {
    dryRun: options.dryRun,
    wouldArchive: result.archived,
    afterStep: pauseForTests,
  });
  const window = config.archiveRetentionMs === null ? 'ARCHIVE_RETENTION=off' : 'within ARCHIVE_RETENTION';
  console.log(
    `${options.dryRun ? 'would drop' : 'dropped'} ${kept.dropped.length} archived day(s) past retention; ${kept.kept} archived day(s) kept (${window})`,
  );
}

const isRefusal = (error: unknown) => error instanceof ArchiveInputError || error instanceof ConfigError;

let pool: pg.Pool | null = null;
try {
  const config = loadAccountsConfig();
  const options = parseArchiveArgs(process.argv.slice(2));
  const db = new pg.Pool({ connectionString: config.databaseUrl, max: 1 });
  pool = db;
  // A connection that breaks while idle (the database restarting) must not end a job that keeps running.
  db.on('error', (error) =>
    console.error(`transactions:archive: an idle database connection failed: ${error.message}`),
  );
  if (options.everyMs === null) await archive(db, config, options);
  else process.exitCode = await archiveEvery(options.everyMs, () => archive(db, config, options), isRefusal);
} catch (error) {
  const refused = isRefusal(error);
  console.error(`transactions:archive ${refused ? 'refused' : 'failed'}: ${(error as Error).message}`);
  process.exitCode = refused ? 2 : 1;
} finally {
  await pool?.end();
}
