/**
 * npm run ledger:restore -w accounts-manager -- <directory>
 * Restores a ledger:backup directory into ACCOUNTS_DATABASE_URL, which must not
 * exist yet or be empty (a restore never overwrites a ledger): pg_restore in
 * one transaction (a failure leaves the database empty), the service's
 * migrations, a new ledger epoch on this cluster recording the backup's
 * snapshot (db/ledger-epochs.sql.ts: what keeps report snapshots exact), then
 * the ledger:verify checks. Start accounts-manager on it afterwards, with the
 * same REPORT_TOKEN_SECRET if tokens issued before the backup must keep
 * working (docs/ledger.md, "Backup and restore").
 * Exit 0 restored and verified, 1 failed or invalid, 2 refused.
 */
import { existsSync } from 'node:fs';
import pg from 'pg';
import { createDatabaseIfMissing } from '@alfabet/service-kit/postgres';
import { loadAccountsConfig, type AccountsConfig } from '../config.js';
import { ledgerRelationCount } from '../db/backup.sql.js';
import { enterLedgerEpoch } from '../db/ledger-epochs.sql.js';
import { verifyLedger } from '../db/ledger-verify.sql.js';
import { verifyReportCounts } from '../db/report-counts-verify.sql.js';
import { openDatabase } from '../db/orm.js';
import { readManifest, type BackupManifest } from './backup-manifest.js';
import { databaseNameOf, pathFromCaller, runPgTool } from './pg-tools.js';

const USAGE = 'usage: npm run ledger:restore -w accounts-manager -- <directory>';

class Refused extends Error {}

const log = { info: (fields: object, message: string) => console.log(`ledger:restore: ${message}`, fields) };

async function restore(config: AccountsConfig, directory: string, backup: BackupManifest): Promise<boolean> {
  const name = databaseNameOf(config.databaseUrl);
  await createDatabaseIfMissing(config.databaseUrl, log);
  const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 2 });
  try {
    const relations = await ledgerRelationCount(pool);
    if (relations > 0) throw new Refused(`${name} is not empty (${relations} relations); restore into a new database`);
    await runPgTool('pg_restore', config.databaseUrl, [
      '--exit-on-error',
      '--single-transaction',
      '--no-owner',
      '--no-privileges',
      directory,
    ]);
    // A backup of an earlier release comes up to this one, as the service would at start.
    const { orm } = await openDatabase(
      { databaseUrl: config.databaseUrl, poolSize: 2, statementTimeoutMs: 0 },
      { info: () => undefined },
    );
    await orm.close(true);
    const entered = await enterLedgerEpoch(pool, { epoch: backup.epoch, snapshot: backup.snapshot });
    console.log(
      `ledger:restore: ${directory} → ${name}: ledger epoch ${entered.epoch} begun on cluster ${entered.cluster} ` +
        `(the backup's: epoch ${backup.epoch} on cluster ${backup.cluster}, snapshot ${backup.snapshot})`,
    );
    const verified = await verifyLedger(pool);
    console.log(
      `ledger:restore: ledger:verify ${verified.ok ? 'OK' : 'INVALID'}: ${verified.accountsChecked} accounts, ` +
        `${verified.transactionsChecked} transactions, sum of balances ${verified.balanceSumMinor}, ` +
        `${verified.mismatchedAccounts.length} mismatched, ${verified.negativeAccounts.length} negative`,
    );
    const counts = await verifyReportCounts(pool);
    console.log(
      `ledger:restore: report counts ${counts.miscounted.length === 0 ? 'OK' : 'INVALID'}: ` +
        `${counts.minutesChecked} minutes, ${counts.miscounted.length} differ from their rows`,
    );
    return verified.ok && counts.miscounted.length === 0;
  } finally {
    await pool.end();
  }
}

const args = process.argv.slice(2);
const directory = args.length === 1 && !args[0]!.startsWith('-') ? pathFromCaller(args[0]!) : null;
try {
  if (!directory) throw new Refused(USAGE);
  if (!existsSync(directory)) throw new Refused(`no backup ${directory}`);
  let backup: BackupManifest;
  try {
    backup = readManifest(directory);
  } catch (error) {
    throw new Refused((error as Error).message);
  }
  process.exitCode = (await restore(loadAccountsConfig(), directory, backup)) ? 0 : 1;
} catch (error) {
  const refused = error instanceof Refused;
  console.error(`ledger:restore ${refused ? 'refused' : 'failed'}: ${(error as Error).message}`);
  process.exitCode = refused ? 2 : 1;
}
