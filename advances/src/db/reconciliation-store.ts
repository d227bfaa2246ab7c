import type pg from 'pg';
import type { AdvanceToReconcile, LedgerMovement } from '../reconciliation/reconcile-advance.js';
import type { Finding } from '../reconciliation/findings.js';

/**
 * What the reconciliation reads and keeps: the advances it checks, the mirror
 * of the ledger's movements made by this service, and its runs.
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

export type RunMode = 'FULL' | 'INCREMENTAL';

/** Records that run `runId` started (again, if its activity is retried: it keeps its first start and mode). */
export async function startRun(pool: pg.Pool, runId: string, mode: RunMode): Promise<void> {
  await pool.query('INSERT INTO reconciliation_runs (run_id, mode) VALUES ($1, $2) ON CONFLICT (run_id) DO NOTHING', [
    runId,
    mode,
  ]);
}

/**
 * When the last finished run and the last finished full sweep started (null:
 * never). A run started before the queue existed (mode null) is no full sweep
 * the queue can build on.
 */
export async function lastRunStarts(pool: pg.Pool): Promise<{ run: Date | null; fullSweep: Date | null }> {
  const result = await pool.query<{ run: string | null; full_sweep: string | null }>(
    `SELECT max(start_time) AS run, max(start_time) FILTER (WHERE mode = 'FULL') AS full_sweep
     FROM reconciliation_runs WHERE finish_time IS NOT NULL`,
  );
  return { run: dateOrNull(result.rows[0]?.run), fullSweep: dateOrNull(result.rows[0]?.full_sweep) };
}

export interface RunResult {
  ledgerScannedUntil: Date;
  advancesChecked: number;
  findingsRaised: number;
  findingsResolved: number;
}

export async function finishRun(pool: pg.Pool, runId: string, result: RunResult): Promise<void> {
  await pool.query(
    `UPDATE reconciliation_runs SET finish_time = now(), ledger_scanned_until = $2, advances_checked = $3,
            findings_raised = $4, findings_resolved = $5
     WHERE run_id = $1`,
    [runId, result.ledgerScannedUntil, result.advancesChecked, result.findingsRaised, result.findingsResolved],
  );
}

/** Where the last finished run stopped reading the ledger (null: never). */
export async function lastLedgerScan(pool: pg.Pool): Promise<Date | null> {
  const result = await pool.query<{ until: string | null }>(
    'SELECT max(ledger_scanned_until) AS until FROM reconciliation_runs WHERE finish_time IS NOT NULL',
  );
  return dateOrNull(result.rows[0]?.until);
}

/** When a run last finished (null: never): what the "not succeeding" alert reads. */
export async function lastSuccessfulRun(pool: pg.Pool): Promise<Date | null> {
  const result = await pool.query<{ finished: string | null }>(
    'SELECT max(finish_time) AS finished FROM reconciliation_runs',
  );
  return dateOrNull(result.rows[0]?.finished);
}

// The ORM's driver hands timestamps over as text.
const dateOrNull = (value: string | Date | null | undefined) =>
  value === null || value === undefined ? null : new Date(value);
