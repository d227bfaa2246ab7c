/**
 * npm run ledger:backup -w accounts-manager -- <file>
 * Writes a backup of the ledger database (ACCOUNTS_DATABASE_URL) to <file>:
 * pg_dump's custom format, copied from one snapshot that this command exports
 * and names in its output — the backup holds exactly the transactions committed
 * in that snapshot, balances agree with them, and ledger:verify holds on the
 * copy. Safe while the ledger serves (no writer waits for it); it waits at
 * most 30 s for a table lock (a transactions:archive move holds one for
 * milliseconds) and fails otherwise. The file appears only once complete.
 * Restore it with ledger:restore (docs/ledger.md, "Backup and restore").
 * Exit 0 written, 1 failed, 2 refused.
 */
import { existsSync, renameSync, rmSync, statSync } from 'node:fs';
import pg from 'pg';
import { loadAccountsConfig } from '../config.js';
import { exportBackupSnapshot, releaseBackupSnapshot } from '../db/backup.sql.js';
import { databaseNameOf, pathFromCaller, runPgTool } from './pg-tools.js';

const USAGE = 'usage: npm run ledger:backup -w accounts-manager -- <file>';

async function backup(databaseUrl: string, file: string): Promise<void> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  const client = await pool.connect();
  const partial = `${file}.partial`;
  try {
    const started = Date.now();
    const taken = await exportBackupSnapshot(client);
    await runPgTool('pg_dump', databaseUrl, [
      '--format=custom',
      '--lock-wait-timeout=30s',
      `--snapshot=${taken.exportedId}`,
      `--file=${partial}`,
    ]);
    await releaseBackupSnapshot(client);
    renameSync(partial, file);
    console.log(
      `ledger:backup: ${databaseNameOf(databaseUrl)} → ${file}: ${statSync(file).size} bytes in ` +
        `${((Date.now() - started) / 1000).toFixed(1)} s; ledger epoch ${taken.epoch} on cluster ${taken.cluster}, ` +
        `snapshot ${taken.snapshot}`,
    );
  } finally {
    rmSync(partial, { force: true });
    client.release();
    await pool.end();
  }
}

const args = process.argv.slice(2);
const file = args.length === 1 && !args[0]!.startsWith('-') ? pathFromCaller(args[0]!) : null;
if (!file || existsSync(file)) {
  console.error(`ledger:backup refused: ${file ? `${file} exists; a backup never overwrites a file` : USAGE}`);
  process.exitCode = 2;
} else {
  try {
    await backup(loadAccountsConfig().databaseUrl, file);
  } catch (error) {
    console.error(`ledger:backup failed: ${(error as Error).message}`);
    process.exitCode = 1;
  }
}
