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

/**
 * A request_id whose transaction's day was dropped past retention: its
 * idempotency key is kept (transaction_requests) and archive.dropped_days
 * holds the day (db/retention.sql.ts). Only asked when the lookup above found
 * nothing, so never on the way of a found transaction.
 */
export async function findDroppedRequest(
  pool: pg.Pool,
  requestId: string,
): Promise<{ transactionId: string; day: string } | null> {
  const { rows } = await pool.query<{ transaction_id: string; day: string }>(
    `SELECT r.transaction_id, to_char(d.day, 'YYYY-MM-DD') AS day
     FROM transaction_requests r
     JOIN archive.dropped_days d ON d.day = (r.create_time AT TIME ZONE 'UTC')::date
     WHERE r.request_id = $1`,
    [requestId],
  );
  const row = rows[0];
  return row ? { transactionId: row.transaction_id, day: row.day } : null;
}

/** The last day dropped past retention (UTC, YYYY-MM-DD); null while none has been. */
export async function lastDroppedDay(pool: pg.Pool): Promise<string | null> {
  const { rows } = await pool.query<{ day: string | null }>(
    `SELECT to_char(max(day), 'YYYY-MM-DD') AS day FROM archive.dropped_days`,
  );
  return rows[0]?.day ?? null;
}
