import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * An idempotency key: which transaction a caller's request_id created. A partitioned table
 * cannot hold a unique index without the partition key, so the keys live in their own table
 * (no foreign key either, for the same reason).
 */
export const TransactionRequestSchema = defineEntity({
  name: 'TransactionRequest',
  tableName: 'transaction_requests',
  properties: {
    requestId: p.uuid().primary(),
    transactionId: p.uuid(),
    createTime: p.datetime(),
  },
});
