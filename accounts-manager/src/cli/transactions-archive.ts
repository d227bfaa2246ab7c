/**
 * npm run transactions:archive -w accounts-manager [-- --dry-run] [-- --before=YYYY-MM-DD]
 * Moves daily partitions of transactions that no report can reach any more to
 * the archive schema. The cutoff is the report horizon the running servers
 * record in the database (src/db/report-horizon.sql.ts), never this
 * command's environment. Safe to run at any time, e.g. daily, and to kill.
 * Exit 0 done, 1 failed, 2 input refused (nothing moved).
 * ARCHIVE_TEST_PAUSE_AT=<step> (tests only) stops after that step of the first
 * move, printing `paused at <step>`, until SIGUSR2, so a test can kill it there.
 */
import pg from 'pg';
import { loadAccountsConfig } from '../config.js';
import { archiveOldPartitions, type ArchiveStep } from '../db/archive.sql.js';
import { archiveCutoff, ArchiveInputError, parseArchiveArgs } from '../db/archive-cutoff.js';
import { readReportHorizon, readReportHorizonLocked } from '../db/report-horizon.sql.js';
import { START_TIME_GRACE_MS } from '../reports/report-request.js';

const config = loadAccountsConfig();
const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 1 });
const log = {
  info: (fields: { partition?: string; step?: string }, message: string) =>
    console.log(`${message} ${fields.partition ?? ''}${fields.step ? ` ${fields.step}` : ''}`),
};
/** Waits after the step ARCHIVE_TEST_PAUSE_AT names until SIGUSR2 (or a kill). */
async function pauseForTests(step: ArchiveStep, partition: string): Promise<void> {
  if (process.env.ARCHIVE_TEST_PAUSE_AT !== step) return;
  const keepAlive = setInterval(() => undefined, 60_000);
  const resumed = new Promise((resolve) => process.once('SIGUSR2', resolve));
  console.log(`paused at ${step} ${partition}`);
  await resumed;
  clearInterval(keepAlive);
}

try {
  const options = parseArchiveArgs(process.argv.slice(2));
  const cutoff = archiveCutoff(
    await readReportHorizon(pool),
    {
      reachMs: process.env.REPORT_WINDOW ? config.reportWindowMs + START_TIME_GRACE_MS : null,
      ttlMs: process.env.REPORT_TOKEN_TTL ? config.reportTokenTtlMs : null,
    },
    options,
  );
  console.log(
    `transactions:archive: partitions whose day ended before ${cutoff.toISOString()}${options.dryRun ? ' (dry run)' : ''}`,
  );
  const result = await archiveOldPartitions(pool, cutoff, log, {
    dryRun: options.dryRun,
    recheckCutoff: readReportHorizonLocked,
    afterStep: pauseForTests,
  });
  console.log(
    `${options.dryRun ? 'would archive' : 'archived'} ${result.archived.length} partition(s); ${result.kept} hot partition(s) kept`,
  );
} catch (error) {
  const refused = error instanceof ArchiveInputError;
  console.error(`transactions:archive ${refused ? 'refused' : 'failed'}: ${(error as Error).message}`);
  process.exitCode = refused ? 2 : 1;
} finally {
  await pool.end();
}
