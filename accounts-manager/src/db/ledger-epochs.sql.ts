import type pg from 'pg';

/**
 * Ledger epochs: which PostgreSQL cluster wrote a transaction row, so a report
 * snapshot stays exact across a dump and restore (DESIGN.md §3).
 *
 * A row's xact_id is an xid of the cluster that wrote it, and a snapshot's
 * xmin/xmax/xip are xids of the cluster that took it. After pg_dump and
 * pg_restore into another cluster the copied rows keep the old cluster's xids,
 * which mean nothing to the new cluster's counter: compared with its snapshots
 * they would look like transactions still to come (and vanish from every
 * report), and the new cluster's own small xids would look old to a snapshot
 * taken before the dump (and show up in it).
 *
 * So the ledger numbers the clusters it has lived in (`ledger_epochs`, one row
 * per epoch: the cluster's pg_control_system().system_identifier), every row
 * carries the epoch it was written in (the column default: a constant, so
 * nothing on the posting path), and a snapshot carries the epoch it was taken
 * in. For a snapshot of epoch E:
 *   - a row of an earlier epoch is visible: it had committed before the dump
 *     that brought it here, so before this cluster wrote anything. These are
 *     the "frozen" rows — their membership no longer depends on any counter;
 *   - a row of epoch E is decided by pg_visible_in_snapshot(), exactly as
 *     before (same cluster, same counter);
 *   - a row of a later epoch is invisible: it was written after a restore
 *     that happened after the snapshot was taken.
 * Freezing costs no write: PostgreSQL freezes by rewriting tuples, which here
 * would be a second write of every row of the hot partitions (and of the
 * report index, which holds xact_id), and would still let a new cluster's rows
 * into snapshots taken before the dump.
 *
 * enterLedgerEpoch() runs at every start (and in ledger:restore): on a
 * cluster other than the latest epoch's it begins the next epoch — records
 * it, moves the column default to it, and forgets the report minutes that were
 * marked but not sealed (their xid marks are the old cluster's; sealed counts
 * stay true: every row they counted is in the dump). ledger:restore always
 * begins one and records the backup's snapshot with it: the rows of the epoch
 * before are exactly those that snapshot saw, so a token of that epoch which
 * saw more (taken on the source after the backup) can be refused.
 *
 * Raw SQL, on purpose: pg_control_system(), a column default moved by DDL and
 * an advisory lock — none of it an EntityManager query. It runs once per
 * start, once per new pooled connection (the guard below) and once per epoch
 * a report token names, so no figure is at stake; the table is described by
 * entities/ledger-epoch.entity.ts.
 */

/** Held while an epoch is checked or begun, so replicas starting together on a new cluster begin one epoch. */
const EPOCH_LOCK_KEY = 7_242_004;
/** SQLSTATE 08004 (the server rejected the connection): callers get UNAVAILABLE. */
const REJECTED_CONNECTION = '08004';

export interface LedgerEpoch {
  epoch: number;
  /** pg_control_system().system_identifier, as decimal text (it is a 64-bit number). */
  cluster: string;
}

export interface EnteredEpoch extends LedgerEpoch {
  /** True when this call began the epoch (the ledger came to a new cluster). */
  began: boolean;
  /** The epoch before it, when this call began one after a recorded epoch. */
  previous: LedgerEpoch | null;
}

interface EpochState {
  cluster: string;
  latest_epoch: number | null;
  latest_cluster: string | null;
  column_default: string | null;
}

/** What ledger:restore knows of the backup it restored: the epoch it was taken in and its snapshot. */
export interface RestoredBackup {
  epoch: number;
  snapshot: string;
}

/**
 * Makes this cluster the ledger's current epoch: returns the latest epoch when it is
 * this cluster's (and rows are stamped with it), or begins the next one.
 * `restoredFrom` (ledger:restore) begins one whatever the latest is — a restored row
 * is never this cluster's own, even restored where it was dumped — and records the
 * backup's snapshot with it.
 */
export async function enterLedgerEpoch(pool: pg.Pool, restoredFrom?: RestoredBackup): Promise<EnteredEpoch> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [EPOCH_LOCK_KEY]);
    const state = await readEpochState(client);
    const stamped = /^\d+$/.test(state.column_default ?? '') ? Number(state.column_default) : 0;
    const latest = state.latest_epoch === null ? null : { epoch: state.latest_epoch, cluster: state.latest_cluster! };
    if (restoredFrom && restoredFrom.epoch !== latest?.epoch) {
      throw new Error(`the backup says epoch ${restoredFrom.epoch}, the restored ledger_epochs ${latest?.epoch}`);
    }
    if (!restoredFrom && latest?.cluster === state.cluster && stamped === latest.epoch) {
      await client.query('COMMIT');
      return { ...latest, began: false, previous: null };
    }
    // Another cluster (or a default out of step with the table): a new epoch is always safe.
    const epoch = Math.max(latest?.epoch ?? 0, stamped) + 1;
    await beginEpoch(client, epoch, restoredFrom?.snapshot ?? null);
    await client.query('COMMIT');
    return { epoch, cluster: state.cluster, began: true, previous: latest };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** This cluster, the latest epoch recorded, and the epoch rows are stamped with now (the column default). */
async function readEpochState(client: pg.PoolClient): Promise<EpochState> {
  const { rows } = await client.query<EpochState>(`
    SELECT c.system_identifier::text AS cluster, e.epoch AS latest_epoch, e.system_identifier::text AS latest_cluster,
           (SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d
            JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
            WHERE d.adrelid = 'public.transactions'::regclass AND a.attname = 'epoch') AS column_default
    FROM pg_control_system() c
    LEFT JOIN LATERAL (SELECT epoch, system_identifier FROM ledger_epochs ORDER BY epoch DESC LIMIT 1) e ON true`);
  return rows[0]!;
}

/**
 * Records `epoch` on this cluster and stamps new rows with it. Unsealed minute marks go:
 * their xids are the old cluster's (sealed counts stay true: every row they counted is here).
 */
async function beginEpoch(client: pg.PoolClient, epoch: number, restoredSnapshot: string | null): Promise<void> {
  await client.query(
    `INSERT INTO ledger_epochs (epoch, system_identifier, first_xact_id, restored_snapshot)
     SELECT $1, system_identifier, pg_current_xact_id(), $2::pg_snapshot FROM pg_control_system()`,
    [epoch, restoredSnapshot],
  );
  // DDL takes no parameters; epoch is an integer computed by the caller.
  await client.query(`ALTER TABLE public.transactions ALTER COLUMN epoch SET DEFAULT ${Number(epoch)}`);
  await client.query('DELETE FROM report_counts WHERE row_count IS NULL');
}

/**
 * From now on, every new connection of the pool must reach the cluster of `epoch`:
 * a database moved under a running server (a restore behind the same address)
 * is refused (UNAVAILABLE to callers) instead of stamping that cluster's rows
 * with the old epoch. Restarting the server begins the new epoch.
 */
export function refuseOtherClusters(pool: pg.Pool, epoch: LedgerEpoch, onRefused: (cluster: string) => void): void {
  pool.options.onConnect = async (client: pg.ClientBase) => {
    const { rows } = await client.query<{ cluster: string }>(
      'SELECT system_identifier::text AS cluster FROM pg_control_system()',
    );
    const cluster = rows[0]!.cluster;
    if (cluster === epoch.cluster) return;
    onRefused(cluster);
    throw Object.assign(
      new Error(
        `the database is now on cluster ${cluster}, not ${epoch.cluster} of ledger epoch ${epoch.epoch}: restart accounts-manager`,
      ),
      { code: REJECTED_CONNECTION },
    );
  };
}

/** Where a report token's epoch stands in this database's history. */
export interface EpochOrigin {
  /**
   * When the next epoch began by ledger:restore: the backup's snapshot of this epoch. This
   * database holds exactly the rows of this epoch that snapshot saw; null when not known.
   */
  restoredSnapshot: string | null;
}

/**
 * Looks up `epoch` (on `cluster`, unless null: a token from before epochs) in this
 * database's history; null when this database never lived in it.
 */
async function findEpochOrigin(pool: pg.Pool, epoch: number, cluster: string | null): Promise<EpochOrigin | null> {
  const { rows } = await pool.query<{ restored_snapshot: string | null }>({
    name: 'ledger_epoch_origin',
    text: `SELECT (SELECT n.restored_snapshot::text FROM ledger_epochs n WHERE n.epoch = e.epoch + 1) AS restored_snapshot
           FROM ledger_epochs e WHERE e.epoch = $1 AND ($2::bigint IS NULL OR e.system_identifier = $2::bigint)`,
    values: [epoch, cluster],
  });
  return rows[0] ? { restoredSnapshot: rows[0].restored_snapshot } : null;
}

/**
 * The epochs of this database's history a report token may come from, asked of the
 * database once per epoch (a server only ever runs in the latest, so what it learns
 * of an epoch stays true while it runs): a token taken on a database this one was
 * not restored from is refused, never judged by foreign xids.
 */
export class KnownLedgerEpochs {
  private readonly known = new Map<string, EpochOrigin>();

  constructor(private readonly pool: pg.Pool) {}

  async origin(epoch: number, cluster: string | null): Promise<EpochOrigin | null> {
    const key = `${epoch}@${cluster ?? ''}`;
    const cached = this.known.get(key);
    if (cached) return cached;
    const found = await findEpochOrigin(this.pool, epoch, cluster);
    if (found) this.known.set(key, found);
    return found;
  }
}
