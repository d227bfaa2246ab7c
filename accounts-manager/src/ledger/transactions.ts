import type pg from 'pg';
import { notFound } from '@alfabet/service-kit/field-error';
import { findTransaction, type TransactionLookup } from '../db/transaction-lookup.sql.js';
import type { LedgerTransaction } from './types.js';

export type { TransactionLookup };

/**
 * Reads one transaction by its id or by the request_id that created it,
 * wherever it is kept: the hot partitions or the archive.
 */
export async function getTransaction(pool: pg.Pool, lookup: TransactionLookup): Promise<LedgerTransaction> {
  const transaction = await findTransaction(pool, lookup);
  if (transaction) return transaction;
  throw 'transactionId' in lookup
    ? notFound('transaction_id', `no transaction ${lookup.transactionId}`)
    : notFound('request_id', `no transaction was made with request_id ${lookup.requestId}`);
}
