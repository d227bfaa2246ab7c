import { defineEntity, p } from '@mikro-orm/postgresql';

/** An idempotency key: which transaction a caller's request_id created. */
export const TransactionRequestSchema = defineEntity({
  name: 'TransactionRequest',
  tableName: 'transaction_requests',
  properties: {
    requestId: p.uuid().primary().fieldName('request_id'),
    transactionId: p.uuid().fieldName('transaction_id'),
    createTime: p.datetime().fieldName('create_time'),
  },
});
