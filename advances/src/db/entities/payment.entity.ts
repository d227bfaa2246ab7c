import { defineEntity, p } from '@mikro-orm/postgresql';
import { AdvanceSchema } from './advance.entity.js';

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
    status: p.text().check("status IN ('SCHEDULED', 'PROCESSING', 'PAID', 'FAILED')"),
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

export type Payment = InstanceType<typeof PaymentSchema.class>;
