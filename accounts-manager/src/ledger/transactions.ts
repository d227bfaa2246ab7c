import type pg from 'pg';
import { notFound } from '@alfabet/service-kit/field-error';
import { toLedgerTransaction, TRANSACTION_COLUMNS, transactionColumns, type TransactionRecord } from './rows.js';
import type { LedgerTransaction } from './types.js';

export type TransactionLookup = { transactionId: string } | { requestId: string };

/**
 * Reads one transaction by its id or by the request_id that created it,
 * wherever it is kept: the hot partitions or the archive.
 */
export async function getTransaction(pool: pg.Pool, lookup: TransactionLookup): Promise<LedgerTransaction> {
  const byId = 'transactionId' in lookup;
  const result = byId
    ? await pool.query<TransactionRecord>({
        name: 'get_transaction_by_id',
        text: `SELECT ${TRANSACTION_COLUMNS} FROM ledger_transactions_all WHERE transaction_id = $1`,
        values: [lookup.transactionId],
      })
    : await pool.query<TransactionRecord>({
        name: 'get_transaction_by_request_id',
        // Join on create_time too, so only the one partition holding it is read.
        text: `SELECT ${transactionColumns('t')}
               FROM transaction_requests r
               JOIN ledger_transactions_all t ON t.transaction_id = r.transaction_id AND t.create_time = r.create_time
               WHERE r.request_id = $1`,
        values: [lookup.requestId],
      });
  const row = result.rows[0];
  if (!row) {
    throw byId
      ? notFound('transaction_id', `no transaction ${lookup.transactionId}`)
      : notFound('request_id', `no transaction was made with request_id ${lookup.requestId}`);
  }
  return toLedgerTransaction(row);
}
