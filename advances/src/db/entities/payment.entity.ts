import { defineEntity, p } from '@mikro-orm/postgresql';

/** One payment of an advance. Status moves only forward: SCHEDULED → PROCESSING → PAID | FAILED. */
export const PaymentSchema = defineEntity({
  name: 'Payment',
  tableName: 'payments',
  properties: {
    advanceId: p.uuid().primary().fieldName('advance_id'),
    number: p.integer().primary().fieldName('number'),
    dueTime: p.datetime().fieldName('due_time'),
    amount: p.bigint('bigint').fieldName('amount'),
    status: p.text().fieldName('status'),
    transactionId: p.uuid().nullable().fieldName('transaction_id'),
    failureReason: p.text().nullable().fieldName('failure_reason'),
    failureMessage: p.text().nullable().fieldName('failure_message'),
    rolledInto: p.integer().nullable().fieldName('rolled_into'),
    updateTime: p.datetime().fieldName('update_time'),
  },
});
