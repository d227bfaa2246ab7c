import { defineEntity, p } from '@mikro-orm/postgresql';

/** An advance row: the queryable projection of one advance workflow. */
export const AdvanceSchema = defineEntity({
  name: 'Advance',
  tableName: 'advances',
  properties: {
    advanceId: p.uuid().primary().fieldName('advance_id'),
    requestId: p.uuid().nullable().fieldName('request_id'),
    accountId: p.uuid().fieldName('account_id'),
    amount: p.bigint('bigint').fieldName('amount'),
    status: p.text().fieldName('status'),
    installments: p.integer().fieldName('installments'),
    paymentIntervalMs: p.bigint('number').fieldName('payment_interval_ms'),
    disbursementTransactionId: p.uuid().nullable().fieldName('disbursement_transaction_id'),
    failureMessage: p.text().nullable().fieldName('failure_message'),
    createTime: p.datetime().fieldName('create_time'),
    updateTime: p.datetime().fieldName('update_time'),
  },
});
