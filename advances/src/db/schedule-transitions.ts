import type pg from 'pg';
import type { PaymentOutcome } from '../domain/advance-types.js';
import { dueTimeOf } from '../domain/schedule.js';

/**
 * The writes activities make to the projection. Each is guarded by the state
 * it moves from, so an activity that runs twice (a retry after a lost reply, a
 * zombie from a crashed worker) changes nothing the second time and can never
 * move a payment backwards: SCHEDULED → PROCESSING → PAID | FAILED.
 */

/** Thrown when the projection disagrees with what the workflow is about to do: a bug or tampering, never retried. */
export class ScheduleGuardViolation extends Error {
  override name = 'ScheduleGuardViolation';
}

async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** DISBURSING → ACTIVE with the credit's transaction and the opening schedule (once). */
export async function openSchedule(
  pool: pg.Pool,
  advance: {
    advanceId: string;
    transactionId: string;
    disbursedAt: string;
    paymentAmounts: string[];
    paymentIntervalMs: number;
  },
): Promise<void> {
  await inTransaction(pool, async (client) => {
    const updated = await client.query(
      `UPDATE advances SET status = 'ACTIVE', disbursement_transaction_id = $2, update_time = now()
       WHERE advance_id = $1 AND status = 'DISBURSING'`,
      [advance.advanceId, advance.transactionId],
    );
    if (updated.rowCount === 0) {
      const current = await client.query<{ disbursement_transaction_id: string | null }>(
        'SELECT disbursement_transaction_id FROM advances WHERE advance_id = $1',
        [advance.advanceId],
      );
      // Already opened by an earlier try of this activity: nothing to do.
      if (current.rows[0]?.disbursement_transaction_id === advance.transactionId) return;
      throw new ScheduleGuardViolation(
        `advance ${advance.advanceId} is not DISBURSING and was not opened by transaction ${advance.transactionId}`,
      );
    }
    const numbers = advance.paymentAmounts.map((_, index) => index + 1);
    await client.query(
      `INSERT INTO payments (advance_id, number, due_time, amount, status)
       SELECT $1, n, d, a, 'SCHEDULED' FROM unnest($2::int[], $3::timestamptz[], $4::bigint[]) AS s(n, d, a)`,
      [
        advance.advanceId,
        numbers,
        numbers.map((n) => dueTimeOf(advance.disbursedAt, n, advance.paymentIntervalMs)),
        advance.paymentAmounts,
      ],
    );
  });
}

/** DISBURSING → DISBURSEMENT_FAILED with the ledger's reason (once). */
export async function markDisbursementFailed(pool: pg.Pool, advanceId: string, failureMessage: string): Promise<void> {
  await pool.query(
    `UPDATE advances SET status = 'DISBURSEMENT_FAILED', failure_message = $2, update_time = now()
     WHERE advance_id = $1 AND status = 'DISBURSING'`,
    [advanceId, failureMessage],
  );
}

interface PaymentRecord {
  status: string;
  amount: string;
  transaction_id: string | null;
  failure_reason: string | null;
  failure_message: string | null;
}

/**
 * SCHEDULED → PROCESSING, before the debit is asked of the ledger. Returns the
 * recorded outcome instead when an earlier try already finished the payment.
 * Refuses (never retried) when the row's amount differs from the workflow's or
 * when taking it would make the advance's paid total exceed its amount.
 */
export async function startPayment(
  pool: pg.Pool,
  payment: { advanceId: string; number: number; amount: string },
): Promise<PaymentOutcome | null> {
  const moved = await pool.query(
    `UPDATE payments p SET status = 'PROCESSING', update_time = now()
     WHERE p.advance_id = $1 AND p.number = $2 AND p.status = 'SCHEDULED' AND p.amount = $3
       AND $3 + (SELECT coalesce(sum(q.amount), 0) FROM payments q WHERE q.advance_id = $1 AND q.status = 'PAID')
           <= (SELECT a.amount FROM advances a WHERE a.advance_id = $1)`,
    [payment.advanceId, payment.number, payment.amount],
  );
  if (moved.rowCount === 1) return null;

  const current = await pool.query<PaymentRecord>(
    'SELECT status, amount::text, transaction_id, failure_reason, failure_message FROM payments WHERE advance_id = $1 AND number = $2',
    [payment.advanceId, payment.number],
  );
  const row = current.rows[0];
  if (!row) throw new ScheduleGuardViolation(`advance ${payment.advanceId} has no payment ${payment.number}`);
  if (row.amount !== payment.amount) {
    throw new ScheduleGuardViolation(
      `payment ${payment.number} of advance ${payment.advanceId} is ${row.amount} in the database, the workflow expects ${payment.amount}`,
    );
  }
  if (row.status === 'PROCESSING') return null; // an earlier try got this far: ask the ledger again (same request id)
  if (row.status === 'PAID') return { status: 'PAID', transactionId: row.transaction_id! };
  if (row.status === 'FAILED') {
    return {
      status: 'FAILED',
      transactionId: row.transaction_id!,
      failureReason: row.failure_reason!,
      failureMessage: row.failure_message ?? '',
    };
  }
  throw new ScheduleGuardViolation(
    `payment ${payment.number} of advance ${payment.advanceId} would take the paid total above the advance amount`,
  );
}

/**
 * PROCESSING → PAID | FAILED with the ledger's answer, in one database
 * transaction with its consequences: a refused payment's amount is added to
 * the payment it rolls into (created if it is new, which makes the advance
 * OVERDUE); the payment that completes the advance marks it REPAID.
 * Guarded, so only the first recording has any effect.
 */
export async function recordPaymentOutcome(
  pool: pg.Pool,
  payment: {
    advanceId: string;
    number: number;
    amount: string;
    rollInto: { number: number; dueTime: string; isNew: boolean };
    completesAdvance: boolean;
  },
  outcome: PaymentOutcome,
): Promise<void> {
  await inTransaction(pool, async (client) => {
    const recorded = await client.query(
      `UPDATE payments SET status = $3, transaction_id = $4, failure_reason = $5, failure_message = $6,
              rolled_into = CASE WHEN $3 = 'FAILED' THEN $7::int END, update_time = now()
       WHERE advance_id = $1 AND number = $2 AND status = 'PROCESSING'`,
      [
        payment.advanceId,
        payment.number,
        outcome.status,
        outcome.transactionId,
        outcome.status === 'FAILED' ? outcome.failureReason : null,
        outcome.status === 'FAILED' ? outcome.failureMessage : null,
        payment.rollInto.number,
      ],
    );
    if (recorded.rowCount === 0) return; // recorded by an earlier try

    if (outcome.status === 'PAID') {
      if (payment.completesAdvance) {
        await client.query(
          `UPDATE advances SET status = 'REPAID', update_time = now() WHERE advance_id = $1 AND status IN ('ACTIVE', 'OVERDUE')`,
          [payment.advanceId],
        );
      }
      return;
    }
    if (payment.rollInto.isNew) {
      await client.query(
        `INSERT INTO payments (advance_id, number, due_time, amount, status) VALUES ($1, $2, $3, $4, 'SCHEDULED')`,
        [payment.advanceId, payment.rollInto.number, payment.rollInto.dueTime, payment.amount],
      );
      await client.query(
        `UPDATE advances SET status = 'OVERDUE', update_time = now() WHERE advance_id = $1 AND status = 'ACTIVE'`,
        [payment.advanceId],
      );
    } else {
      const rolled = await client.query(
        `UPDATE payments SET amount = amount + $3, update_time = now()
         WHERE advance_id = $1 AND number = $2 AND status = 'SCHEDULED'`,
        [payment.advanceId, payment.rollInto.number, payment.amount],
      );
      if (rolled.rowCount !== 1) {
        throw new ScheduleGuardViolation(
          `payment ${payment.rollInto.number} of advance ${payment.advanceId} is not SCHEDULED; cannot roll payment ${payment.number} into it`,
        );
      }
    }
  });
}
