import type pg from 'pg';
import type { AdvanceToReconcile, LedgerMovement } from '../reconciliation/reconcile-advance.js';
import type { Finding } from '../reconciliation/findings.js';

/**
 * Raw SQL, on purpose: the reconciliation's per-page reads, the mirror of
 * the ledger's movements, the reconciliation queue (taken off at the mark read
 * with each advance), and the once-a-run anti-join of that mirror against the
 * advances. Everything else the reconciliation keeps (its runs,
 * its findings) goes through the EntityManager (reconciliation-store.ts,
 * findings-store.ts); the tables are described once, by the entities.
 *
 * Why not the EntityManager here: these statements run for every page of 500
 * advances and every page of the ledger's stream, and the database pages are
 * 15–16 % of a run's time and mirroring 6–10 % (docs/benchmarks.md,
 * "Reconciliation at scale": 10 000 open advances at 1 066–1 170 advances/s).
 * One statement returns a page of advances with their payments as JSON (one
 * round trip, no entities to hydrate for 500 advances and 6 000 payments);
 * mirroring is one look-up by key and one INSERT … SELECT FROM unnest(…) per
 * page of movements, with bound parameters (MikroORM 7 inlines every value
 * into the SQL text). They read only what the comparison needs, as plain
 * domain objects (AdvanceToReconcile, LedgerMovement).
 */

/** Which advances a run checks (see reconciliation-run.ts). */
export type ReconcileScope =
  | { mode: 'FULL'; recentSince: Date }
  | { mode: 'INCREMENTAL'; stuckBefore: Date; closedWorkflowAdvanceIds: string[] };

/** An advance as a run checks it, with the queue mark read in the same snapshot (null: not queued). */
export interface AdvanceOnPage extends AdvanceToReconcile {
  queueMark: string | null;
}

/**
 * FULL: every advance not yet repaid; a repaid one too while the ledger shows
 * it a recent movement (a stray debit after the last payment), a finding of it
 * is open (so it is resolved only by being seen fixed) or it changed since it
 * was last checked.
 */
const FULL_SCOPE = `
  SELECT a.advance_id FROM advances a
  WHERE ($1::uuid IS NULL OR a.advance_id > $1::uuid)
    AND (a.status <> 'REPAID'
         OR EXISTS (SELECT 1 FROM ledger_movements m WHERE m.advance_id = a.advance_id AND m.create_time >= $3)
         OR EXISTS (SELECT 1 FROM reconciliation_findings f WHERE f.advance_id = a.advance_id AND f.resolve_time IS NULL)
         OR EXISTS (SELECT 1 FROM reconciliation_queue q WHERE q.advance_id = a.advance_id))
  ORDER BY a.advance_id LIMIT $2`;

/**
 * INCREMENTAL: what can have become wrong since the last run — the advances
 * queued by a change (theirs, their payments', a ledger movement naming
 * them), those with an open finding, those time alone can make stuck (still
 * disbursing; a payment open past RECONCILIATION_STUCK_AFTER), and those whose
 * workflow closed since the last run.
 */
const INCREMENTAL_SCOPE = `
  SELECT advance_id FROM (
    SELECT advance_id FROM reconciliation_queue
    UNION SELECT advance_id FROM reconciliation_findings WHERE resolve_time IS NULL
    UNION SELECT advance_id FROM advances WHERE status = 'DISBURSING'
    UNION SELECT advance_id FROM payments WHERE status IN ('SCHEDULED', 'PROCESSING') AND due_time < $3
    UNION SELECT unnest($4::uuid[])
  ) candidates
  WHERE ($1::uuid IS NULL OR advance_id > $1::uuid)
  ORDER BY advance_id LIMIT $2`;

/**
 * One page of the advances in `scope`, in id order after `afterId`, each with
 * its payments and queue mark — one statement, so all from one snapshot.
 */
export async function advancesToReconcilePage(
  pool: pg.Pool,
  afterId: string | null,
  limit: number,
  scope: ReconcileScope,
): Promise<AdvanceOnPage[]> {
  const [candidates, parameters] =
    scope.mode === 'FULL'
      ? [FULL_SCOPE, [afterId, limit, scope.recentSince]]
      : [INCREMENTAL_SCOPE, [afterId, limit, scope.stuckBefore, scope.closedWorkflowAdvanceIds]];
  const result = await pool.query<{
    advance_id: string;
    account_id: string;
    amount: string;
    status: AdvanceToReconcile['status'];
    create_time: Date;
    disbursement_transaction_id: string | null;
    queue_mark: string | null;
    payments: Array<{
      number: number;
      amount: string;
      status: string;
      due_time: string;
      transaction_id: string | null;
      rolled_into: number | null;
    }>;
  }>(
    `SELECT a.advance_id, a.account_id, a.amount::text, a.status, a.create_time, a.disbursement_transaction_id,
            q.mark::text AS queue_mark,
            coalesce((SELECT json_agg(json_build_object('number', p.number, 'amount', p.amount::text, 'status', p.status,
                         'due_time', p.due_time, 'transaction_id', p.transaction_id, 'rolled_into', p.rolled_into) ORDER BY p.number)
                      FROM payments p WHERE p.advance_id = a.advance_id), '[]') AS payments
     FROM (${candidates}) page
     JOIN advances a ON a.advance_id = page.advance_id
     LEFT JOIN reconciliation_queue q ON q.advance_id = a.advance_id
     ORDER BY a.advance_id`,
    parameters,
  );
  return result.rows.map((row) => ({
    advanceId: row.advance_id,
    accountId: row.account_id,
    amount: BigInt(row.amount),
    status: row.status,
    createTime: new Date(row.create_time),
    disbursementTransactionId: row.disbursement_transaction_id,
    queueMark: row.queue_mark,
    payments: row.payments.map((p) => ({
      number: p.number,
      amount: BigInt(p.amount),
      status: p.status as AdvanceToReconcile['payments'][number]['status'],
      dueTime: new Date(p.due_time),
      transactionId: p.transaction_id,
      rolledInto: p.rolled_into,
    })),
  }));
}

/**
 * Takes checked advances off the queue — each only at the mark read with it:
 * one changed again meanwhile stays queued for the next run.
 */
export async function dequeueChecked(pool: pg.Pool, page: AdvanceOnPage[]): Promise<void> {
  const queued = page.filter((advance) => advance.queueMark !== null);
  if (queued.length === 0) return;
  await pool.query(
    `DELETE FROM reconciliation_queue q USING unnest($1::uuid[], $2::bigint[]) AS checked(advance_id, mark)
     WHERE q.advance_id = checked.advance_id AND q.mark = checked.mark`,
    [queued.map((advance) => advance.advanceId), queued.map((advance) => advance.queueMark)],
  );
}

/**
 * Drops queue entries of advances this service never recorded (a ledger
 * movement naming an unknown advance queues one): every run checks those
 * movements anyway (movementsOfUnknownAdvances).
 */
export async function dequeueUnknownAdvances(pool: pg.Pool): Promise<void> {
  await pool.query(
    'DELETE FROM reconciliation_queue q WHERE NOT EXISTS (SELECT 1 FROM advances a WHERE a.advance_id = q.advance_id)',
  );
}

/**
 * Mirrors ledger movements; a movement already mirrored is left as it is
 * (ledger rows never change). Each scan re-reads its overlap with the last
 * one: those rows are looked up by key and skipped, which costs far less than
 * an upsert each (the bench's hourly run re-read 9 018 rows: 491 ms as upserts).
 */
export async function mirrorMovements(pool: pg.Pool, unsorted: LedgerMovement[]): Promise<void> {
  if (unsorted.length === 0) return;
  const known = await pool.query<{ transaction_id: string }>(
    'SELECT transaction_id FROM ledger_movements WHERE transaction_id = ANY($1::uuid[])',
    [unsorted.map((m) => m.transactionId)],
  );
  const mirrored = new Set(known.rows.map((row) => row.transaction_id));
  // In advance id order, as the queue trigger locks them: two mirrors at once cannot deadlock.
  const movements = unsorted
    .filter((m) => !mirrored.has(m.transactionId))
    .sort((a, b) => (a.advanceId < b.advanceId ? -1 : a.advanceId > b.advanceId ? 1 : 0));
  if (movements.length === 0) return;
  await pool.query(
    `INSERT INTO ledger_movements (transaction_id, request_id, advance_id, account_id, direction, amount, status, description, create_time)
     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::bigint[], $7::text[], $8::text[], $9::timestamptz[])
     ON CONFLICT (transaction_id) DO NOTHING`,
    [
      movements.map((m) => m.transactionId),
      movements.map((m) => m.requestId),
      movements.map((m) => m.advanceId),
      movements.map((m) => m.accountId),
      movements.map((m) => m.direction),
      movements.map((m) => m.amount.toString()),
      movements.map((m) => m.status),
      movements.map((m) => m.description),
      movements.map((m) => m.createTime),
    ],
  );
}

/** The mirrored movements of these advances. */
export async function movementsOf(pool: pg.Pool, advanceIds: string[]): Promise<LedgerMovement[]> {
  const result = await pool.query<{
    transaction_id: string;
    request_id: string | null;
    advance_id: string;
    account_id: string;
    direction: 'CREDIT' | 'DEBIT';
    amount: string;
    status: 'SUCCESS' | 'FAILED';
    description: string;
    create_time: Date;
  }>(
    `SELECT transaction_id, request_id, advance_id, account_id, direction, amount::text, status, description, create_time
     FROM ledger_movements WHERE advance_id = ANY($1::uuid[])`,
    [advanceIds],
  );
  return result.rows.map((row) => ({
    transactionId: row.transaction_id,
    requestId: row.request_id,
    advanceId: row.advance_id,
    accountId: row.account_id,
    direction: row.direction,
    amount: BigInt(row.amount),
    status: row.status,
    description: row.description,
    createTime: new Date(row.create_time),
  }));
}

/** Mirrored movements naming an advance this service never recorded: each one is a stray. */
export async function movementsOfUnknownAdvances(pool: pg.Pool): Promise<Finding[]> {
  const result = await pool.query<{
    advance_id: string;
    transaction_id: string;
    status: string;
    direction: string;
    amount: string;
    account_id: string;
  }>(
    `SELECT m.advance_id, m.transaction_id, m.status, m.direction, m.amount::text, m.account_id FROM ledger_movements m
     WHERE NOT EXISTS (SELECT 1 FROM advances a WHERE a.advance_id = m.advance_id)`,
  );
  return result.rows.map((row) => ({
    advanceId: row.advance_id,
    kind: 'LEDGER_MOVEMENT_WITHOUT_PAYMENT',
    subject: `ledger ${row.transaction_id}`,
    detail: `ledger transaction ${row.transaction_id} (${row.status} ${row.direction} of ${row.amount} on account ${row.account_id}) names advance ${row.advance_id}, which this service never recorded`,
    severity: row.status === 'SUCCESS' ? 'CRITICAL' : 'WARNING',
  }));
}
