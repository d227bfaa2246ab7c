import { defineEntity, p } from '@mikro-orm/postgresql';

const ADVANCE_STATUSES = "('DISBURSING', 'ACTIVE', 'OVERDUE', 'REPAID', 'DISBURSEMENT_FAILED')";

/**
 * An advance: the queryable projection of one advance workflow. Column names follow the
 * properties in snake_case; `npm run migration:check` fails when this description and the
 * migrations (src/db/migrations/) disagree.
 */
export const AdvanceSchema = defineEntity({
  name: 'Advance',
  tableName: 'advances',
  properties: {
    advanceId: p.uuid().primary(),
    requestId: p.uuid().nullable().unique('advances_request_id_key'),
    accountId: p.uuid(),
    amount: p.bigint('bigint').check('amount > 0'),
    status: p.text().check(`status IN ${ADVANCE_STATUSES}`),
    installments: p.integer().check('installments > 0'),
    paymentIntervalMs: p.bigint('number').check('payment_interval_ms > 0'),
    disbursementTransactionId: p.uuid().nullable(),
    failureMessage: p.text().nullable(),
    createTime: p.datetime().defaultRaw('now()'),
    /** create_time to the microsecond, as PostgreSQL wrote it (a Date keeps milliseconds): the keyset cursor. */
    createTimeExact: p
      .string()
      .formula((cols) => `to_char(${cols.createTime} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`),
    updateTime: p.datetime().defaultRaw('now()'),
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

export type Advance = InstanceType<typeof AdvanceSchema.class>;

/** The index columns of a newest-first keyset walk: create_time, then the id, both descending. */
export function newestFirst(idColumn: string): { name: string; sort: 'DESC' }[] {
  return [
    { name: 'create_time', sort: 'DESC' },
    { name: idColumn, sort: 'DESC' },
  ];
}
