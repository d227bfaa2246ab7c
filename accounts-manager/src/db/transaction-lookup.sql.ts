import type pg from 'pg';
import type { LedgerTransaction } from '../ledger/types.js';
import {
  toLedgerTransaction,
  TRANSACTION_COLUMNS,
  transactionColumns,
  type TransactionRecord,
} from './transaction-rows.js';

/**
 * Raw SQL, on purpose: one transaction by its id or by the request_id that
 * made it, wherever it is kept — read from the view ledger_transactions_all
 * (hot partitions and archive; hand-written in migrations/…_archive.ts, no
 * entity describes a view). By request_id it is one join on
 * (transaction_id, create_time), so only the one daily partition holding the
 * row is read. This is also the posting path's lookup: ledger_post() replays a
 * request_id from the hot partitions only, so a replay of an archived one ends
 * here (ledger/post-transaction.ts). One prepared statement, as ledger_post() is
 * (docs/benchmarks.md: BankTransaction ×32 with 10 % replayed ids, 1 797/s).
 */

export type TransactionLookup = { transactionId: string } | { requestId: string };

export async function findTransaction(pool: pg.Pool, lookup: TransactionLookup): Promise<LedgerTransaction | null> {
  const result =
    'transactionId' in lookup
      ? await pool.query<TransactionRecord>({
          name: 'get_transaction_by_id',
          text: `SELECT ${TRANSACTION_COLUMNS} FROM ledger_transactions_all WHERE transaction_id = $1`,
          values: [lookup.transactionId],
        })
      : await pool.query<TransactionRecord>({
          name: 'get_transaction_by_request_id',
          text: `SELECT ${transactionColumns('t')}
                 FROM transaction_requests r
                 JOIN ledger_transactions_all t ON t.transaction_id = r.transaction_id AND t.create_time = r.create_time
                 WHERE r.request_id = $1`,
          values: [lookup.requestId],
        });
  const row = result.rows[0];
  return row ? toLedgerTransaction(row) : null;
}
