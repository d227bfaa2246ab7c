import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * A BatchTransfer's own idempotency key and its answer: the transaction of each item, in request
 * order, with its create_time (the transactions table's partition key, so each is found in its day).
 * Written only by ledger_post_batch() (migrations/Migration20261205000000_batch_transfer.ts); a
 * repeat of the key replays exactly these. The items' own keys are in transaction_requests.
 */
export const BatchRequestSchema = defineEntity({
  name: 'BatchRequest',
  tableName: 'batch_requests',
  properties: {
    requestId: p.uuid().primary(),
    createTime: p.datetime(),
    /** Whether the batch was all-or-nothing: a repeat must ask the same. */
    atomic: p.boolean(),
    transactionIds: p.array().columnType('uuid[]'),
    transactionTimes: p.array().columnType('timestamptz[]'),
  },
});
