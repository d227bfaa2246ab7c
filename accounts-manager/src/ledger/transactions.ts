import type pg from 'pg';
import { failedPrecondition, notFound } from '@alfabet/service-kit/field-error';
import {
  findDroppedRequest,
  findTransaction,
  lastDroppedDay,
  type TransactionLookup,
} from '../db/transaction-lookup.sql.js';
import type { LedgerTransaction } from './types.js';

export type { TransactionLookup };

/**
 * Reads one transaction by its id or by the request_id that created it,
 * wherever it is kept: the hot partitions or the archive. A transaction whose
 * day was dropped past ARCHIVE_RETENTION is NOT_FOUND, saying so.
 */
export async function getTransaction(pool: pg.Pool, lookup: TransactionLookup): Promise<LedgerTransaction> {
  const transaction = await findTransaction(pool, lookup);
  if (transaction) return transaction;
  if ('requestId' in lookup) {
    const dropped = await findDroppedRequest(pool, lookup.requestId);
    throw dropped
      ? notFound('request_id', `${pastRetention(lookup.requestId, dropped)}, so it can no longer be read`)
      : notFound('request_id', `no transaction was made with request_id ${lookup.requestId}`);
  }
  const lastDropped = await lastDroppedDay(pool);
  throw notFound(
    'transaction_id',
    `no transaction ${lookup.transactionId}${lastDropped ? ` (the days up to ${lastDropped} are past the ledger's retention and no longer kept)` : ''}`,
  );
}

/**
 * A replay of a request_id whose day was dropped past retention: the request
 * was applied once and is not applied again (FAILED_PRECONDITION); null when
 * its day was not dropped.
 */
export async function droppedReplay(pool: pg.Pool, requestId: string): Promise<Error | null> {
  const dropped = await findDroppedRequest(pool, requestId);
  return dropped
    ? failedPrecondition(
        'request_id',
        `${pastRetention(requestId, dropped)}: it is not applied again; use a new request_id for a new request`,
      )
    : null;
}

function pastRetention(requestId: string, dropped: { transactionId: string; day: string }): string {
  return (
    `request_id ${requestId} made transaction ${dropped.transactionId} on ${dropped.day}, ` +
    "a day past the ledger's retention that is no longer kept (it was exported, then dropped)"
  );
}
