/**
 * npm run ledger:backup -w accounts-manager -- <directory>
 * Writes a backup of the ledger database (ACCOUNTS_DATABASE_URL) to a new
 * <directory>: pg_dump's directory format, copied from one snapshot that this
 * command exports, plus a manifest naming that snapshot and the ledger epoch
 * (backup-manifest.ts). The backup holds exactly the transactions committed in
 * that snapshot, balances agree with them, and ledger:verify holds on the copy.
 * Safe while the ledger serves (no writer waits for it); it waits at most 30 s
 * for a table lock (a transactions:archive move holds one for milliseconds)
 * and fails otherwise. The directory appears only once complete. Restore it
 * with ledger:restore (docs/ledger.md, "Backup and restore").
 * Exit 0 written, 1 failed, 2 refused.
 */
import { existsSync, renameSync, rmSync } from 'node:fs';
import pg from 'pg';
import { loadAccountsConfig } from '../config.js';
import { exportBackupSnapshot, releaseBackupSnapshot } from '../db/backup.sql.js';
import { writeManifest } from './backup-manifest.js';
import { databaseNameOf, pathFromCaller, runPgTool } from './pg-tools.js';

const USAGE = 'usage: npm run ledger:backup -w accounts-manager -- <directory>';

async function backup(databaseUrl: string, directory: string): Promise<void> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  const client = await pool.connect();
  const partial = `${directory}.partial`;
  rmSync(partial, { recursive: true, force: true });
  try {
    const started = Date.now();
    const taken = await exportBackupSnapshot(client);
    await runPgTool('pg_dump', databaseUrl, [
      '--format=directory',
      '--lock-wait-timeout=30s',
      `--snapshot=${taken.exportedId}`,
      `--file=${partial}`,
    ]);
    await releaseBackupSnapshot(client);
    const database = databaseNameOf(databaseUrl);
    writeManifest(partial, {
      format: 'alfabet-ledger-backup',
      version: 1,
      database,
      epoch: taken.epoch,
      cluster: taken.cluster,
      snapshot: taken.snapshot,
      takenAt: new Date(started).toISOString(),
    });
    renameSync(partial, directory);
    console.log(
      `ledger:backup: ${database} → ${directory} in ${((Date.now() - started) / 1000).toFixed(1)} s; ` +
        `ledger epoch ${taken.epoch} on cluster ${taken.cluster}, snapshot ${taken.snapshot}`,
    );
  } finally {
    rmSync(partial, { recursive: true, force: true });
    client.release();
    await pool.end();
  }
}

const args = process.argv.slice(2);
const directory = args.length === 1 && !args[0]!.startsWith('-') ? pathFromCaller(args[0]!) : null;
if (!directory || existsSync(directory)) {
  console.error(`ledger:backup refused: ${directory ? `${directory} exists; a backup never overwrites` : USAGE}`);
  process.exitCode = 2;
} else {
  try {
    await backup(loadAccountsConfig().databaseUrl, directory);
  } catch (error) {
    console.error(`ledger:backup failed: ${(error as Error).message}`);
    process.exitCode = 1;
  }
}
