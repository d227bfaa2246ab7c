import type pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import type { AdvanceToReconcile, Finding } from './reconcile-advance.js';

/**
 * One page of the advances the reconciliation checks: disbursed and not yet
 * repaid (ACTIVE or OVERDUE), in id order after `afterId`, with payments.
 */
export async function openAdvancesPage(pool: pg.Pool, afterId: string | null, limit: number): Promise<AdvanceToReconcile[]> {
  const result = await pool.query<{
    advance_id: string; account_id: string; amount: string; disbursement_transaction_id: string | null;
    payments: Array<{ number: number; amount: string; status: string; transaction_id: string | null; rolled_into: number | null }>;
  }>(
    `SELECT a.advance_id, a.account_id, a.amount::text, a.disbursement_transaction_id,
            coalesce(json_agg(json_build_object('number', p.number, 'amount', p.amount::text, 'status', p.status,
                       'transaction_id', p.transaction_id, 'rolled_into', p.rolled_into) ORDER BY p.number)
                     FILTER (WHERE p.number IS NOT NULL), '[]') AS payments
     FROM advances a LEFT JOIN payments p ON p.advance_id = a.advance_id
     WHERE a.status IN ('ACTIVE', 'OVERDUE') AND ($1::uuid IS NULL OR a.advance_id > $1::uuid)
     GROUP BY a.advance_id ORDER BY a.advance_id LIMIT $2`,
    [afterId, limit]);
  return result.rows.map((row) => ({
    advanceId: row.advance_id,
    accountId: row.account_id,
    amount: BigInt(row.amount),
    disbursementTransactionId: row.disbursement_transaction_id,
    payments: row.payments.map((p) => ({
      number: p.number, amount: BigInt(p.amount), status: p.status, transactionId: p.transaction_id, rolledInto: p.rolled_into,
    })),
  }));
}

/** Stores findings so ops can read them after the alert. */
export async function storeFindings(pool: pg.Pool, runId: string, findings: Finding[]): Promise<void> {
  if (findings.length === 0) return;
  await pool.query(
    `INSERT INTO reconciliation_findings (finding_id, run_id, advance_id, kind, detail)
     SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[])`,
    [findings.map(() => uuidv7()), findings.map(() => runId), findings.map((f) => f.advanceId), findings.map((f) => f.kind), findings.map((f) => f.detail)]);
}
