import type pg from 'pg';
import type { AdvanceToReconcile, LedgerMovement } from '../reconciliation/reconcile-advance.js';
import type { Finding } from '../reconciliation/findings.js';

/**
 * What the reconciliation reads and keeps: the advances it checks, the mirror
 * of the ledger's movements made by this service, and its runs.
 */

/**
 * One page of the advances a run checks, in id order after `afterId`: every
 * advance not yet repaid; a repaid one too while the ledger shows it a recent
 * movement (a stray debit after the last payment) or a finding of it is open
 * (so it is resolved only by being seen fixed).
 */
export async function advancesToReconcilePage(
  pool: pg.Pool,
  afterId: string | null,
  limit: number,
  recentSince: Date,
): Promise<AdvanceToReconcile[]> {
  const result = await pool.query<{
    advance_id: string;
    account_id: string;
    amount: string;
    status: AdvanceToReconcile['status'];
    create_time: Date;
    disbursement_transaction_id: string | null;
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
            coalesce((SELECT json_agg(json_build_object('number', p.number, 'amount', p.amount::text, 'status', p.status,
                         'due_time', p.due_time, 'transaction_id', p.transaction_id, 'rolled_into', p.rolled_into) ORDER BY p.number)
                      FROM payments p WHERE p.advance_id = a.advance_id), '[]') AS payments
     FROM advances a
     WHERE ($1::uuid IS NULL OR a.advance_id > $1::uuid)
       AND (a.status <> 'REPAID'
            OR EXISTS (SELECT 1 FROM ledger_movements m WHERE m.advance_id = a.advance_id AND m.create_time >= $3)
            OR EXISTS (SELECT 1 FROM reconciliation_findings f WHERE f.advance_id = a.advance_id AND f.resolve_time IS NULL))
     ORDER BY a.advance_id LIMIT $2`,
    [afterId, limit, recentSince],
  );
  return result.rows.map((row) => ({
    advanceId: row.advance_id,
    accountId: row.account_id,
    amount: BigInt(row.amount),
    status: row.status,
    createTime: new Date(row.create_time),
    disbursementTransactionId: row.disbursement_transaction_id,
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

/** Mirrors ledger movements; a movement already mirrored is left as it is (ledger rows never change). */
export async function mirrorMovements(pool: pg.Pool, movements: LedgerMovement[]): Promise<void> {
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

/** Records that run `runId` started (again, if its activity is retried). */
export async function startRun(pool: pg.Pool, runId: string): Promise<void> {
  await pool.query('INSERT INTO reconciliation_runs (run_id) VALUES ($1) ON CONFLICT (run_id) DO NOTHING', [runId]);
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
