import type pg from 'pg';
import type { AdvanceStatusName, PaymentStatusName } from '../domain/advance-types.js';

/** An advance with its payments, as stored in the projection. */
export interface StoredAdvance {
  advanceId: string;
  requestId: string | null;
  accountId: string;
  amount: bigint;
  status: AdvanceStatusName;
  installments: number;
  paymentIntervalMs: number;
  disbursementTransactionId: string | null;
  failureMessage: string | null;
  createTime: Date;
  /** create_time to the microsecond, as PostgreSQL wrote it: the keyset cursor. */
  createTimeExact: string;
  payments: StoredPayment[];
}

export interface StoredPayment {
  number: number;
  dueTime: Date;
  amount: bigint;
  status: PaymentStatusName;
  transactionId: string | null;
  failureReason: string | null;
  rolledInto: number | null;
}

export const OPEN_STATUSES: AdvanceStatusName[] = ['DISBURSING', 'ACTIVE', 'OVERDUE'];

const ADVANCE_SELECT = `
  SELECT a.advance_id, a.request_id, a.account_id, a.amount::text, a.status, a.installments,
         a.payment_interval_ms::float8 AS payment_interval_ms, a.disbursement_transaction_id, a.failure_message, a.create_time,
         to_char(a.create_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS create_time_exact,
         coalesce((SELECT json_agg(json_build_object('number', p.number, 'due_time', p.due_time, 'amount', p.amount::text,
                     'status', p.status, 'transaction_id', p.transaction_id, 'failure_reason', p.failure_reason,
                     'rolled_into', p.rolled_into) ORDER BY p.number)
                   FROM payments p WHERE p.advance_id = a.advance_id), '[]') AS payments
  FROM advances a`;

interface AdvanceRecord {
  advance_id: string;
  request_id: string | null;
  account_id: string;
  amount: string;
  status: AdvanceStatusName;
  installments: number;
  payment_interval_ms: number;
  disbursement_transaction_id: string | null;
  failure_message: string | null;
  create_time: Date | string;
  create_time_exact: string;
  payments: Array<{
    number: number;
    due_time: string;
    amount: string;
    status: PaymentStatusName;
    transaction_id: string | null;
    failure_reason: string | null;
    rolled_into: number | null;
  }>;
}

function toStoredAdvance(row: AdvanceRecord): StoredAdvance {
  return {
    advanceId: row.advance_id,
    requestId: row.request_id,
    accountId: row.account_id,
    amount: BigInt(row.amount),
    status: row.status,
    installments: row.installments,
    paymentIntervalMs: row.payment_interval_ms,
    disbursementTransactionId: row.disbursement_transaction_id,
    failureMessage: row.failure_message,
    // The ORM's driver hands timestamps over as text; Date keeps millisecond precision.
    createTime: new Date(row.create_time),
    createTimeExact: row.create_time_exact,
    payments: row.payments.map((p) => ({
      number: p.number,
      dueTime: new Date(p.due_time),
      amount: BigInt(p.amount),
      status: p.status,
      transactionId: p.transaction_id,
      failureReason: p.failure_reason,
      rolledInto: p.rolled_into,
    })),
  };
}

export async function findAdvance(pool: pg.Pool, advanceId: string): Promise<StoredAdvance | null> {
  const result = await pool.query<AdvanceRecord>(`${ADVANCE_SELECT} WHERE a.advance_id = $1`, [advanceId]);
  return result.rows[0] ? toStoredAdvance(result.rows[0]) : null;
}

export async function findAdvanceByRequestId(pool: pg.Pool, requestId: string): Promise<StoredAdvance | null> {
  const result = await pool.query<AdvanceRecord>(`${ADVANCE_SELECT} WHERE a.request_id = $1`, [requestId]);
  return result.rows[0] ? toStoredAdvance(result.rows[0]) : null;
}

export interface NewAdvance {
  advanceId: string;
  requestId: string | null;
  accountId: string;
  amount: bigint;
  installments: number;
  paymentIntervalMs: number;
}

/** What insertAdvance did: the caller turns a refusal into its answer (the store throws no API errors). */
export type InsertAdvanceOutcome =
  | { outcome: 'inserted' }
  | { outcome: 'request_id_taken' }
  /** The account already has `openAdvances` ≥ maxOpen open advances: nothing written. */
  | { outcome: 'too_many_open'; openAdvances: number };

/**
 * Records a new advance as DISBURSING, enforcing "at most `maxOpen` open
 * advances per account" under a per-account advisory lock (two requests for
 * one account racing cannot both pass the check). A request_id already used
 * is answered by the caller (see request-advance.ts): here it is a conflict.
 * The row is written before its workflow starts and is never deleted: a start
 * that seemed to fail may have reached Temporal, whose workflow needs the row.
 */
export async function insertAdvance(
  pool: pg.Pool,
  advance: NewAdvance,
  maxOpen: number,
): Promise<InsertAdvanceOutcome> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SELECT pg_advisory_xact_lock(hashtextextended('advances/account/' || $1::text, 0))`, [
      advance.accountId,
    ]);
    // A racing call with the same request_id may have committed while we waited: it is a replay, not a second advance.
    if (advance.requestId) {
      const taken = await client.query('SELECT 1 FROM advances WHERE request_id = $1', [advance.requestId]);
      if (taken.rowCount! > 0) {
        await client.query('ROLLBACK');
        return { outcome: 'request_id_taken' };
      }
    }
    const open = await client.query<{ open: number }>(
      `SELECT count(*)::int AS open FROM advances WHERE account_id = $1 AND status = ANY($2)`,
      [advance.accountId, OPEN_STATUSES],
    );
    const openAdvances = open.rows[0]!.open;
    if (openAdvances >= maxOpen) {
      await client.query('ROLLBACK');
      return { outcome: 'too_many_open', openAdvances };
    }
    const inserted = await client.query(
      `INSERT INTO advances (advance_id, request_id, account_id, amount, status, installments, payment_interval_ms)
       VALUES ($1, $2, $3, $4, 'DISBURSING', $5, $6) ON CONFLICT (request_id) DO NOTHING`,
      [
        advance.advanceId,
        advance.requestId,
        advance.accountId,
        advance.amount.toString(),
        advance.installments,
        advance.paymentIntervalMs,
      ],
    );
    await client.query('COMMIT');
    return { outcome: inserted.rowCount === 1 ? 'inserted' : 'request_id_taken' };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

export interface AdvanceFilter {
  accountId: string | null;
  status: AdvanceStatusName | null;
}

/** A page of advances, newest first, after the keyset cursor. */
export async function listAdvances(
  pool: pg.Pool,
  filter: AdvanceFilter,
  after: { createTime: string; id: string } | null,
  limit: number,
): Promise<StoredAdvance[]> {
  const result = await pool.query<AdvanceRecord>(
    `${ADVANCE_SELECT}
     WHERE ($1::uuid IS NULL OR a.account_id = $1) AND ($2::text IS NULL OR a.status = $2)
       AND ($3::timestamptz IS NULL OR (a.create_time, a.advance_id) < ($3::timestamptz, $4::uuid))
     ORDER BY a.create_time DESC, a.advance_id DESC LIMIT $5`,
    [filter.accountId, filter.status, after?.createTime ?? null, after?.id ?? null, limit],
  );
  return result.rows.map(toStoredAdvance);
}
