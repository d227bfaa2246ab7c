import { defineEntity, p } from '@mikro-orm/postgresql';
import type { AdvanceStatusName, PaymentStatusName } from '../../domain/advance-types.js';

/**
 * The advances projection: an advance and its payments (one file, as each
 * refers to the other). Column names follow the properties in snake_case;
 * `npm run migration:check` fails when these descriptions and the migrations
 * (src/db/migrations/) disagree.
 */

const ADVANCE_STATUSES = "('DISBURSING', 'ACTIVE', 'OVERDUE', 'REPAID', 'DISBURSEMENT_FAILED')";

/** An advance: the queryable projection of one advance workflow. */
export const AdvanceSchema = defineEntity({
  name: 'Advance',
  tableName: 'advances',
  properties: {
    advanceId: p.uuid().primary(),
    requestId: p.uuid().nullable().unique('advances_request_id_key'),
    accountId: p.uuid(),
    amount: p.bigint('bigint').check('amount > 0'),
    status: p.text().$type<AdvanceStatusName>().check(`status IN ${ADVANCE_STATUSES}`),
    installments: p.integer().check('installments > 0'),
    paymentIntervalMs: p.bigint('number').check('payment_interval_ms > 0'),
    disbursementTransactionId: p.uuid().nullable(),
    failureMessage: p.text().nullable(),
    createTime: p.datetime().defaultRaw('now()'),
    /** create_time to the microsecond, as PostgreSQL wrote it (a Date keeps milliseconds): the keyset cursor. */
    createTimeExact: p.string().formula((cols) => exactUtc(cols.createTime!)),
    updateTime: p.datetime().defaultRaw('now()'),
    /** In payment order. */
    payments: () => p.oneToMany(PaymentSchema).mappedBy('advance').orderBy({ number: 'asc' }),
  },
  checks: [
    {
      name: 'advances_disbursed_has_transaction',
      expression: "status IN ('DISBURSING', 'DISBURSEMENT_FAILED') OR disbursement_transaction_id IS NOT NULL",
    },
  ],
  indexes: [
    // ListAdvances walks newest first, optionally per account or status.
    { name: 'advances_newest', columns: newestFirst('advance_id') },
    { name: 'advances_by_account', columns: [{ name: 'account_id' }, ...newestFirst('advance_id')] },
    { name: 'advances_by_status', columns: [{ name: 'status' }, ...newestFirst('advance_id')] },
    // The reconciliation reads every advance that is not repaid.
    { name: 'advances_open', properties: ['advanceId'], where: "status <> 'REPAID'" },
    // The incremental reconciliation finds the advances time alone can leave stuck.
    { name: 'advances_disbursing', properties: ['advanceId'], where: "status = 'DISBURSING'" },
  ],
});

/** One payment of an advance. Status moves only forward: SCHEDULED → PROCESSING → PAID | FAILED. */
export const PaymentSchema = defineEntity({
  name: 'Payment',
  tableName: 'payments',
  properties: {
    advance: () =>
      p.manyToOne(AdvanceSchema).primary().fieldName('advance_id').foreignKeyName('payments_advance_id_fkey'),
    number: p.integer().primary().check('number >= 1'),
    dueTime: p.datetime(),
    amount: p.bigint('bigint').check('amount > 0'),
    status: p.text().$type<PaymentStatusName>().check("status IN ('SCHEDULED', 'PROCESSING', 'PAID', 'FAILED')"),
    transactionId: p.uuid().nullable(),
    failureReason: p.text().nullable(),
    failureMessage: p.text().nullable(),
    rolledInto: p.integer().nullable(),
    updateTime: p.datetime().defaultRaw('now()'),
  },
  checks: [
    {
      // An outcome always names the ledger transaction that decided it.
      name: 'payments_outcome_has_transaction',
      expression: "status IN ('SCHEDULED', 'PROCESSING') OR transaction_id IS NOT NULL",
    },
    {
      name: 'payments_failed_rolls_forward',
      expression:
        "(status = 'FAILED') = (failure_reason IS NOT NULL) AND (rolled_into IS NULL OR (status = 'FAILED' AND rolled_into > number))",
    },
  ],
  indexes: [
    // The incremental reconciliation finds the payments still open past their due time.
    { name: 'payments_open_by_due', properties: ['dueTime'], where: "status IN ('SCHEDULED', 'PROCESSING')" },
  ],
});

export type Advance = InstanceType<typeof AdvanceSchema.class>;
export type Payment = InstanceType<typeof PaymentSchema.class>;

/** The index columns of a newest-first keyset walk: create_time, then the id, both descending. */
export function newestFirst(idColumn: string): { name: string; sort: 'DESC' }[] {
  return [
    { name: 'create_time', sort: 'DESC' },
    { name: idColumn, sort: 'DESC' },
  ];
}

/** A timestamptz column as ISO-8601 UTC text to the microsecond (PostgreSQL's own precision). */
export const exactUtc = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
