import type {
  Direction,
  FailureReason,
  LedgerTransaction,
  TransactionKind,
  TransactionStatus,
} from '../ledger/types.js';

/**
 * What the raw statements return (ledger_post(), the lookup, the report pages:
 * the *.sql.ts files), as node-postgres hands it over
 * (int8 as string, uuids as strings), and how it becomes the ledger's types.
 * The columns are those of the entities (entities/*.entity.ts), which describe
 * the tables.
 * Times come as microseconds since the epoch (`…_us`, int8 as string):
 * node-postgres would round a timestamptz to a Date's milliseconds.
 */
export interface TransactionRecord {
  transaction_id: string;
  create_time_us: string;
  request_id: string | null;
  kind: string;
  src_account_id: string | null;
  dst_account_id: string;
  amount: string | bigint;
  direction: string;
  description: string;
  status: string;
  failure_reason: string | null;
  failure_message: string;
  initiated_by: string;
}

export function toLedgerTransaction(row: TransactionRecord): LedgerTransaction {
  return {
    transactionId: row.transaction_id,
    requestId: row.request_id,
    createTimeUs: BigInt(row.create_time_us),
    kind: row.kind as TransactionKind,
    srcAccountId: row.src_account_id,
    dstAccountId: row.dst_account_id,
    amountMinor: BigInt(row.amount),
    direction: row.direction as Direction,
    description: row.description,
    status: row.status as TransactionStatus,
    failureReason: row.failure_reason as FailureReason | null,
    failureMessage: row.failure_message,
    initiatedBy: row.initiated_by,
  };
}

/** A timestamptz column as microseconds since the epoch (exact: extract returns numeric). */
export const microsOf = (column: string) => `(extract(epoch FROM ${column}) * 1000000)::bigint`;

/** A transaction's columns but its time (which each reader selects in its own form). */
export const TRANSACTION_FIELDS = [
  'transaction_id',
  'request_id',
  'kind',
  'src_account_id',
  'dst_account_id',
  'amount',
  'direction',
  'description',
  'status',
  'failure_reason',
  'failure_message',
  'initiated_by',
] as const;

/** The select list of a TransactionRecord, of table alias `table` when given. */
export function transactionColumns(table?: string): string {
  const column = (name: string) => (table ? `${table}.${name}` : name);
  return [...TRANSACTION_FIELDS.map(column), `${microsOf(column('create_time'))} AS create_time_us`].join(', ');
}

export const TRANSACTION_COLUMNS = transactionColumns();
