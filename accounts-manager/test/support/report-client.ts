import { Metadata, type ServiceError } from '@grpc/grpc-js';
import type {
  AccountsServiceClient,
  ListTransactionsRequest,
  ListTransactionsResponse,
} from '@alfabet/proto/accounts/v1';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { forgetReportCounts } from '../../src/db/report-counts.sql.js';

export const listRequest = (fields: Partial<ListTransactionsRequest>): ListTransactionsRequest => ({
  startTime: undefined,
  endTime: undefined,
  pageSize: 0,
  pageToken: '',
  snapshotToken: '',
  page: 0,
  accountId: '',
  ...fields,
});

/** Reads a whole ListTransactions stream; rejects with the ServiceError if it fails. */
export function listAll(
  client: AccountsServiceClient,
  fields: Partial<ListTransactionsRequest>,
): Promise<ListTransactionsResponse[]> {
  return new Promise((resolve, reject) => {
    const pages: ListTransactionsResponse[] = [];
    const stream = client.listTransactions(listRequest(fields), new Metadata());
    stream.on('data', (page: ListTransactionsResponse) => pages.push(page));
    stream.on('error', (error: ServiceError) => reject(error));
    stream.on('end', () => resolve(pages));
  });
}

/** Reads the first `count` pages of a stream, then cancels it. */
export function listFirst(
  client: AccountsServiceClient,
  fields: Partial<ListTransactionsRequest>,
  count: number,
): Promise<ListTransactionsResponse[]> {
  return new Promise((resolve, reject) => {
    const pages: ListTransactionsResponse[] = [];
    const stream = client.listTransactions(listRequest(fields), new Metadata());
    stream.on('data', (page: ListTransactionsResponse) => {
      pages.push(page);
      if (pages.length === count) {
        stream.cancel();
        resolve(pages);
      }
    });
    stream.on('error', (error: ServiceError) => (pages.length >= count ? undefined : reject(error)));
    stream.on('end', () => resolve(pages));
  });
}

export const idsOf = (pages: ListTransactionsResponse[]) =>
  pages.flatMap((page) => page.transactions.map((t) => t.transactionId));

/**
 * Writes `count` FAILED transfers between two accounts straight into the
 * table, spread over the last hours with every three sharing one create_time
 * (to exercise the tie-break). FAILED rows move no money, so the ledger's
 * invariants hold. Returns their ids in report order (newest first).
 */
export async function seedFailedTransfers(pool: pg.Pool, from: string, to: string, count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, () => randomUUID());
  await pool.query(
    `INSERT INTO transactions (transaction_id, create_time, kind, src_account_id, dst_account_id, amount, direction,
                               status, failure_reason, failure_message, from_account_id, to_account_id)
     SELECT id, date_trunc('second', now()) - ((ordinality - 1) / 3) * interval '1 second', 'transfer', $2, $3, 100, 'debit',
            'failed', 'insufficient_funds', 'seeded for a report test', $2, $3
     FROM unnest($1::uuid[]) WITH ORDINALITY AS u(id, ordinality)`,
    [ids, from, to],
  );
  // Rows written into past minutes, some maybe sealed already (their sealed counts would miss them): counted again.
  await forgetReportCounts(pool);
  const ordered = await pool.query<{ transaction_id: string }>(
    'SELECT transaction_id FROM transactions WHERE transaction_id = ANY($1::uuid[]) ORDER BY create_time DESC, transaction_id DESC',
    [ids],
  );
  return ordered.rows.map((row) => row.transaction_id);
}
