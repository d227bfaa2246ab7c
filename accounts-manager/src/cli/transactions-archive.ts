/**
 * npm run transactions:archive -w accounts-manager [-- --dry-run]
 * Moves daily partitions of transactions that no report can reach any more
 * (older than REPORT_WINDOW plus the life of a report token) to the archive
 * schema, without blocking writers. Safe to run at any time, e.g. daily.
 */
import pg from 'pg';
import { loadAccountsConfig } from '../config.js';
import { archiveOldPartitions } from '../db/archive.js';
import { START_TIME_GRACE_MS } from '../reports/report-request.js';

const dryRun = process.argv.includes('--dry-run');
const config = loadAccountsConfig();
// A live report token may reach back to now − window − grace − TTL: keep that hot.
const cutoff = new Date(Date.now() - config.reportWindowMs - START_TIME_GRACE_MS - config.reportTokenTtlMs);
const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 1 });
const log = {
  info: (fields: { partition?: string }, message: string) => console.log(`${message} ${fields.partition ?? ''}`),
};
try {
  console.log(
    `transactions:archive: partitions whose day ended before ${cutoff.toISOString()}${dryRun ? ' (dry run)' : ''}`,
  );
  const result = await archiveOldPartitions(pool, cutoff, log, dryRun);
  console.log(
    `${dryRun ? 'would archive' : 'archived'} ${result.archived.length} partition(s); ${result.kept} hot partition(s) kept`,
  );
} catch (error) {
  console.error(`transactions:archive failed: ${(error as Error).message}`);
  process.exitCode = 1;
} finally {
  await pool.end();
}
