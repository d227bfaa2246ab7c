import pg from 'pg';
import { BinaryCopyOut, type BinaryRow } from './binary-copy-out.sql.js';
import { BUCKET } from './report-counts.sql.js';
import { TRANSACTION_FIELDS } from './transaction-rows.js';
import { isoOfMicros, type ReportFilter, type ReportSnapshot } from '../reports/report-types.js';

/**
 * The report's SQL. Membership of a row in a listing is decided by
 * PostgreSQL's own MVCC rules: pg_visible_in_snapshot(xact_id, snapshot) is
 * true exactly for rows whose writing transaction had committed when the
 * snapshot was taken (DESIGN.md §4) — a transaction that began earlier but
 * committed later is out, whatever its create_time. Every page is one
 * autocommit statement: no database transaction stays open between pages.
 *
 * A snapshot belongs to a ledger epoch (the PostgreSQL cluster it was taken
 * on, ledger-epochs.sql.ts): rows of earlier epochs are in it, rows of later
 * ones are not, and only rows of its own epoch are decided by their xact_id —
 * so a snapshot, and the rows it shows, stay exact across a dump and restore.
 *
 * Rows are ordered newest first by (create_time, transaction_id), served by
 * the index transactions_report_snapshot (or the per-account indexes), and
 * the window's bounds prune the daily partitions to the hot ones it covers.
 *
 * Raw SQL, on purpose: pg_visible_in_snapshot() over the xid8 column, the
 * row-comparison keyset, the two per-account index walks merged, the sealed
 * minute counts — none of it is an EntityManager query, and a first page is
 * read in p50 3.4 ms, p99 13.2 ms over 1 000 000 rows (docs/benchmarks.md,
 * "Report"), which entity hydration would not keep. The snapshot and its count
 * are one statement with bound parameters: prepared once a session for the
 * whole window (db/report-pool.ts), planned for its account at every execution
 * for one account. A page is a binary COPY of
 * report_page() or report_account_page(), the functions that hold the pages'
 * statements (Migration20261212000000_report_pages_binary); the later pages of
 * a whole-window stream are read many at a time by a binary COPY of the same
 * statement written out (rowsAfterCopy; grpc/report-page-reader.ts says when).
 * The rows stay bytes until grpc/report-page-wire.ts writes them as protobuf,
 * at a third of the CPU that text rows made into objects cost
 * (docs/benchmarks.md, "The report's pages in binary").
 */

/** An upper bound for "no end_time": later than any row can be. */
const END_OF_TIME_US = 253_402_300_799_999_999n; // 9999-12-31T23:59:59.999999Z
/** Sorts after every real transaction id: the cursor of "before the first page". */
const MAX_UUID = 'ffffffff-ffff-ffff-ffff-ffffffffffff';

/** A row's place in a listing's order: where a page's cursor points. */
export interface RowKey {
  createTimeUs: bigint;
  transactionId: string;
}

/** A listing's starting point: a cursor (keyset, for walking forward) or an offset (to jump to page N). */
export type PagePosition = { after: RowKey } | { offset: number };

/** Rows `snapshot` of ledger epoch `epoch` sees: every row of an earlier epoch, its own epoch's by their xid. */
const visibleIn = (snapshot: string, epoch: string) =>
  `(t.epoch < ${epoch} OR (t.epoch = ${epoch} AND pg_visible_in_snapshot(t.xact_id, ${snapshot})))`;
/** Rows of the window ($1 start, $2 end) that `snapshot` of `epoch` sees. */
const inSnapshotWindow = (snapshot: string, epoch: string) =>
  `t.create_time >= $1::timestamptz AND t.create_time < $2::timestamptz AND ${visibleIn(snapshot, epoch)}`;
/** The statement's own snapshot and the ledger's current epoch (ledger-epochs.sql.ts keeps it this cluster's). */
const SNAPSHOT_NOW = `SELECT pg_current_snapshot() AS snapshot, e.epoch, e.system_identifier::text AS cluster
  FROM (SELECT epoch, system_identifier FROM ledger_epochs ORDER BY epoch DESC LIMIT 1) e`;

/** A new listing's snapshot: pg_current_snapshot() text, the ledger epoch it belongs to, and its row count. */
export interface TakenSnapshot {
  snapshot: string;
  epoch: number;
  cluster: string;
  totalSize: bigint;
}

/**
 * Takes the snapshot of a new listing and counts its rows, in one statement
 * (so everything is read in the same snapshot). An account filter naming no
 * account gives null (checked in the same statement; the caller answers
 * NOT_FOUND). Without an account filter the window's whole minutes from the
 * first sealed one on are counted by the minute — a sealed count, else the
 * minute's live counts (report-live-counts.sql.ts says why either is exact) —
 * and only the partial minutes at the window's edges, and any minutes before
 * the first sealed one, row by row.
 */
export async function takeSnapshot(db: pg.Pool | pg.PoolClient, filter: ReportFilter): Promise<TakenSnapshot | null> {
  const result = await db.query<{
    snapshot: string;
    epoch: number;
    cluster: string;
    total: string;
    account_found: boolean;
  }>(
    filter.accountId
      ? {
          // Unnamed: planned for this account at every execution. Named, a posting connection that had
          // listed the bank five times kept a generic plan for every account: a walk of the whole window
          // (1.4 s where an account's own plan takes 7 ms; test/report-plan-cache.test.ts).
          text: `WITH s AS (${SNAPSHOT_NOW})
             SELECT s.snapshot::text AS snapshot, s.epoch, s.cluster,
                    (SELECT count(*) FROM transactions t
                     WHERE ${inSnapshotWindow('s.snapshot', 's.epoch')} AND (t.from_account_id = $3 OR t.to_account_id = $3)) AS total,
                    EXISTS (SELECT 1 FROM accounts WHERE account_id = $3) AS account_found
             FROM s`,
          values: [...windowValues(filter), filter.accountId],
        }
      : { name: 'report_snapshot_counted', text: COUNTED_SNAPSHOT, values: windowValues(filter) },
  );
  const row = result.rows[0]!;
  if (!row.account_found) return null;
  return { snapshot: row.snapshot, epoch: row.epoch, cluster: row.cluster, totalSize: BigInt(row.total) };
}

/** A minute with a sealed count: its live counts (if compaction has not dropped them yet) are not added. */
const SEALED = (bucket: string) =>
  `EXISTS (SELECT 1 FROM report_counts c WHERE c.bucket_start = ${bucket} AND c.row_count IS NOT NULL)`;

/**
 * The snapshot and total of a listing of every account's rows in [$1, $2).
 * [lo, hi) are the whole minutes counted by the minute: from the later of the
 * window's first whole minute and the first sealed minute, up to the start of
 * the window's last partial minute (lo = hi when there are none: all counted
 * row by row). Rows before lo and from hi on are counted one by one.
 */
const COUNTED_SNAPSHOT = `WITH s AS (${SNAPSHOT_NOW}),
  edges AS (
    SELECT date_trunc('minute', $1::timestamptz)
             + CASE WHEN date_trunc('minute', $1::timestamptz) = $1::timestamptz THEN interval '0' ELSE ${BUCKET} END AS first_whole,
           (SELECT min(bucket_start) FROM report_counts WHERE row_count IS NOT NULL) AS first_sealed,
           date_trunc('minute', $2::timestamptz) AS hi),
  m AS (SELECT least(greatest(first_whole, coalesce(first_sealed, hi)), hi) AS lo, hi FROM edges)
  SELECT s.snapshot::text AS snapshot, s.epoch, s.cluster,
         (SELECT coalesce(sum(c.row_count), 0) FROM report_counts c
          WHERE c.row_count IS NOT NULL AND c.bucket_start >= m.lo AND c.bucket_start < m.hi)
         + (SELECT coalesce(sum(l.row_count), 0) FROM report_live_counts l
            WHERE l.bucket_start >= m.lo AND l.bucket_start < m.hi AND NOT ${SEALED('l.bucket_start')})
         + (SELECT count(*) FROM transactions t WHERE t.create_time >= $1::timestamptz AND t.create_time < m.lo
              AND ${visibleIn('s.snapshot', 's.epoch')})
         + (SELECT count(*) FROM transactions t WHERE t.create_time >= greatest(m.hi, $1::timestamptz)
              AND t.create_time < $2::timestamptz AND ${visibleIn('s.snapshot', 's.epoch')}) AS total,
         true AS account_found
  FROM s, m`;

/**
 * The columns report_page() and report_account_page() return, in order
 * (Migration20261212000000_report_pages_binary): a transaction's, then its
 * create_time as a timestamptz. report-page-wire.test.ts checks them against the functions.
 */
export const REPORT_ROW_COLUMNS = [...TRANSACTION_FIELDS, 'create_time'] as const;

/**
 * Reads one page of a snapshot's rows, newest first, handing each row to
 * `onRow` in PostgreSQL's binary form while it arrives (db/binary-copy-out.sql.ts):
 * the page is never held as JavaScript rows. A failed read discards its
 * connection.
 */
export async function readPage(
  pool: pg.Pool,
  snapshot: ReportSnapshot,
  position: PagePosition,
  onRow: (row: BinaryRow) => void,
): Promise<void> {
  await copyRows(pool, pageCopy(snapshot, position), onRow);
}

/**
 * Reads up to `rows` rows of a whole-window listing strictly after `after`,
 * newest first, as readPage does: many pages in one statement
 * (grpc/report-page-reader.ts says when).
 */
export async function readRowsAfter(
  pool: pg.Pool,
  snapshot: ReportSnapshot,
  after: RowKey,
  rows: number,
  onRow: (row: BinaryRow) => void,
): Promise<void> {
  await copyRows(pool, rowsAfterCopy(snapshot, after, rows), onRow);
}

async function copyRows(pool: pg.Pool, text: string, onRow: (row: BinaryRow) => void): Promise<void> {
  const client = await pool.connect();
  try {
    await copyRowsOn(client, text, onRow);
  } catch (error) {
    client.release(error as Error);
    throw error;
  }
  client.release();
}

async function copyRowsOn(client: pg.PoolClient, text: string, onRow: (row: BinaryRow) => void): Promise<void> {
  const copy = new BinaryCopyOut(text, REPORT_ROW_COLUMNS.length, onRow);
  client.query(copy);
  await copy.done;
}

/**
 * Runs a whole-window listing's statements once on `client`: the snapshot with its count and one row
 * of its first page. A session's first listing loads the catalog entries of every daily partition and
 * index it prunes to, and plans the snapshot's statement and report_page()'s: on the grown ledger (5 M
 * rows in the window) 37–68 ms where the next listings took 3–6 (docs/benchmarks.md, session 22).
 * db/report-pool.ts runs this on each of its connections before the service answers.
 */
export async function warmReportSession(client: pg.PoolClient, filter: ReportFilter): Promise<void> {
  const taken = await takeSnapshot(client, filter);
  if (!taken) throw new Error('warmReportSession: a whole-window filter found no account');
  const snapshot: ReportSnapshot = { filter, pageSize: 1, takenAtMs: Date.now(), ...taken };
  await copyRowsOn(client, pageCopy(snapshot, { offset: 0 }), () => undefined);
}

/**
 * The statement that reads one page (exported so a test can see exactly its
 * plan): a binary COPY of report_page(), or of report_account_page() for one
 * account. COPY takes no bind parameters, so the values are quoted literals;
 * the page's own statement, inside the function, is prepared once a session
 * and keeps its parameters.
 */
export function pageCopy(snapshot: ReportSnapshot, position: PagePosition): string {
  const after = 'after' in position ? position.after : { createTimeUs: END_OF_TIME_US, transactionId: MAX_UUID };
  const offset = 'offset' in position ? position.offset : 0;
  const [start, end] = windowValues(snapshot.filter);
  const values: [unknown, string][] = [
    [start, 'timestamptz'],
    [end, 'timestamptz'],
    [snapshot.snapshot, 'pg_snapshot'],
    [snapshot.epoch, 'integer'],
    [isoOfMicros(after.createTimeUs), 'timestamptz'],
    [after.transactionId, 'uuid'],
    [offset, 'bigint'],
    [snapshot.pageSize, 'bigint'],
  ];
  if (snapshot.filter.accountId) values.push([snapshot.filter.accountId, 'uuid']);
  const args = values.map(([value, type]) => literal(value, type)).join(', ');
  const page = snapshot.filter.accountId ? 'report_account_page' : 'report_page';
  return `COPY (SELECT * FROM ${page}(${args})) TO STDOUT (FORMAT binary)`;
}

/**
 * The statement of readRowsAfter (exported so a test can see its plan):
 * report_page()'s own statement (Migration20261212000000_report_pages_binary)
 * for `rows` rows after `after`, its values written in as quoted literals. It
 * is planned at every execution, with the window known (about a millisecond
 * over the hot days, db/report-pool.ts), and has no result store: PostgreSQL
 * sends each row as its index walk finds it.
 */
export function rowsAfterCopy(snapshot: ReportSnapshot, after: RowKey, rows: number): string {
  if (snapshot.filter.accountId) throw new Error('rowsAfterCopy reads whole-window listings only');
  if (!Number.isSafeInteger(rows) || rows < 1) throw new Error(`rowsAfterCopy: ${rows} is not a row count`);
  const [start, end] = windowValues(snapshot.filter);
  return `COPY (SELECT ${REPORT_ROW_COLUMNS.map((column) => `t.${column}`).join(', ')}
    FROM transactions t
    WHERE t.create_time >= ${literal(start, 'timestamptz')} AND t.create_time < ${literal(end, 'timestamptz')}
      AND ${visibleIn(literal(snapshot.snapshot, 'pg_snapshot'), literal(snapshot.epoch, 'integer'))}
      AND (t.create_time, t.transaction_id) < (${literal(isoOfMicros(after.createTimeUs), 'timestamptz')}, ${literal(after.transactionId, 'uuid')})
    ORDER BY t.create_time DESC, t.transaction_id DESC LIMIT ${rows}) TO STDOUT (FORMAT binary)`;
}

/** `value` as a quoted SQL literal of `type` (COPY takes no bind parameters). */
const literal = (value: unknown, type: string) => `${pg.escapeLiteral(String(value))}::${type}`;

function windowValues(filter: ReportFilter): [string, string] {
  return [isoOfMicros(filter.startUs), isoOfMicros(filter.endUs ?? END_OF_TIME_US)];
}
