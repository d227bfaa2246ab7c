import type pg from 'pg';

/**
 * What `ledger:backup` and `ledger:restore` ask the database. Raw SQL, on
 * purpose: an exported snapshot (pg_export_snapshot(), for pg_dump
 * --snapshot) and a catalogue read, neither an EntityManager query; once per
 * backup or restore, so no figure is at stake.
 */

/** The snapshot a backup is taken in, held open by the caller's transaction while pg_dump copies it. */
export interface BackupSnapshot {
  /** pg_export_snapshot(): pg_dump --snapshot=<id> copies exactly this snapshot. */
  exportedId: string;
  /** The same snapshot as pg_current_snapshot() text ("xmin:xmax:xip,…"): which transactions the backup holds. */
  snapshot: string;
  epoch: number;
  cluster: string;
}

/**
 * Opens a read-only REPEATABLE READ transaction on `client` and exports its snapshot:
 * the caller runs pg_dump --snapshot with it, then ends the transaction.
 */
export async function exportBackupSnapshot(client: pg.PoolClient): Promise<BackupSnapshot> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  const { rows } = await client.query<{ exported_id: string; snapshot: string; epoch: number; cluster: string }>(`
    SELECT pg_export_snapshot() AS exported_id, pg_current_snapshot()::text AS snapshot,
           e.epoch, e.system_identifier::text AS cluster
    FROM (SELECT epoch, system_identifier FROM ledger_epochs ORDER BY epoch DESC LIMIT 1) e`);
  const row = rows[0]!;
  return { exportedId: row.exported_id, snapshot: row.snapshot, epoch: row.epoch, cluster: row.cluster };
}

/** Ends the transaction exportBackupSnapshot() opened. */
export async function releaseBackupSnapshot(client: pg.PoolClient): Promise<void> {
  await client.query('COMMIT');
}

/** Tables, views and sequences in the schemas a ledger dump restores (public, archive): 0 for an empty database. */
export async function ledgerRelationCount(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(`
    SELECT count(*) AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname IN ('public', 'archive') AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')`);
  return Number(rows[0]!.n);
}
