import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * A transaction row, successful or failed. Written only by ledger_post();
 * the table is partitioned by day on create_time (the migration owns its DDL).
 */
export const TransactionSchema = defineEntity({
  name: 'Transaction',
  tableName: 'transactions',
  properties: {
    createTime: p.datetime().primary().fieldName('create_time'),
    transactionId: p.uuid().primary().fieldName('transaction_id'),
    requestId: p.uuid().nullable().fieldName('request_id'),
    kind: p.text().fieldName('kind'),
    srcAccountId: p.uuid().nullable().fieldName('src_account_id'),
    dstAccountId: p.uuid().fieldName('dst_account_id'),
    amount: p.bigint('bigint').fieldName('amount'),
    direction: p.text().fieldName('direction'),
    description: p.text().fieldName('description'),
    status: p.text().fieldName('status'),
    failureReason: p.text().nullable().fieldName('failure_reason'),
    failureMessage: p.text().fieldName('failure_message'),
    fromAccountId: p.uuid().fieldName('from_account_id'),
    toAccountId: p.uuid().fieldName('to_account_id'),
    /** The authenticated identity that asked for it; '' when authorization is off. */
    initiatedBy: p.text().fieldName('initiated_by'),
  },
});

export type TransactionRow = InstanceType<typeof TransactionSchema.class>;
