import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * A transaction, successful or failed. Written only by ledger_post() (src/db/ledger-post.sql.ts).
 *
 * What an entity cannot describe stays in the hand-written migrations (src/db/migrations/):
 * the table is PARTITION BY RANGE (create_time) with one partition per day, made ahead by the
 * function ensure_transaction_partitions(); the view ledger_transactions_all spans this table and
 * the archive; the functions ledger_post() and ensure_transaction_partitions() themselves.
 * `npm run migration:check` compares the rest (columns, checks, indexes) with the migrations.
 */

/** The columns, shared by the hot table and the archive (which holds detached partitions of it). */
function transactionProperties() {
  return {
    createTime: p.datetime().primary(),
    transactionId: p.uuid().primary(),
    /**
     * The writing database transaction's id: with a pg_snapshot kept in a report token,
     * pg_visible_in_snapshot(xact_id, snapshot) tells exactly whether this row belongs to that
     * report (see DESIGN.md section 4). Only the report's SQL reads it.
     */
    xactId: p.string().columnType('xid8').defaultRaw('pg_current_xact_id()').lazy(),
    /**
     * The ledger epoch (the PostgreSQL cluster) the row was written in, so xact_id is compared only
     * with snapshots of that cluster (src/db/ledger-epochs.sql.ts). The default is the current epoch:
     * the service moves it when it starts on a new cluster. Only the report's SQL reads it.
     */
    epoch: p.integer().default(1).lazy(),
    requestId: p.uuid().nullable(),
    kind: p.text().check("kind IN ('transfer', 'bank')"),
    srcAccountId: p.uuid().nullable(),
    dstAccountId: p.uuid(),
    amount: p.bigint('bigint').check('amount > 0'),
    direction: p.text().check("direction IN ('debit', 'credit')"),
    description: p.text().default(''),
    status: p.text().check("status IN ('success', 'failed')"),
    failureReason: p
      .text()
      .nullable()
      .check("failure_reason IN ('insufficient_funds', 'balance_limit_exceeded', 'batch_aborted')"),
    failureMessage: p.text().default(''),
    /** The two legs, resolved from kind + direction: money left from_account_id and reached to_account_id (on success). */
    fromAccountId: p.uuid(),
    toAccountId: p.uuid(),
    /** The authenticated identity that asked for it; '' when authorization is off (and before the column). */
    initiatedBy: p.text().default(''),
  };
}

/** The checks across columns (PostgreSQL named them when the first migration declared them unnamed). */
const TRANSACTION_CHECKS = [
  { name: 'transactions_check', expression: 'from_account_id <> to_account_id' },
  { name: 'transactions_check1', expression: "(status = 'success') = (failure_reason IS NULL)" },
];

/** The hot transactions: the report window's daily partitions. */
export const TransactionSchema = defineEntity({
  name: 'Transaction',
  tableName: 'transactions',
  properties: transactionProperties(),
  checks: TRANSACTION_CHECKS,
  indexes: [
    { name: 'transactions_by_id', properties: ['transactionId'] },
    // A report's pages walk newest first; counting a snapshot's rows needs only create_time, xact_id and epoch.
    {
      name: 'transactions_report_snapshot',
      columns: [
        { name: 'create_time', sort: 'DESC' },
        { name: 'transaction_id', sort: 'DESC' },
      ],
      include: ['xactId', 'epoch'],
    },
    {
      name: 'transactions_report_by_from',
      columns: [
        { name: 'from_account_id' },
        { name: 'create_time', sort: 'DESC' },
        { name: 'transaction_id', sort: 'DESC' },
      ],
    },
    {
      name: 'transactions_report_by_to',
      columns: [
        { name: 'to_account_id' },
        { name: 'create_time', sort: 'DESC' },
        { name: 'transaction_id', sort: 'DESC' },
      ],
    },
  ],
});

/**
 * Cold storage: daily partitions older than the report window, moved here by
 * `npm run transactions:archive` (src/db/archive.sql.ts). Created LIKE transactions, so it has the
 * same columns and checks; partitioned the same way (in the migration), with only the lookup by id.
 */
export const ArchivedTransactionSchema = defineEntity({
  name: 'ArchivedTransaction',
  schema: 'archive',
  tableName: 'transactions',
  properties: transactionProperties(),
  checks: TRANSACTION_CHECKS,
  indexes: [{ name: 'archive_transactions_by_id', properties: ['transactionId'] }],
});
