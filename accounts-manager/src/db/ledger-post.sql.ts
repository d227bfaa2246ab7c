import type pg from 'pg';
import { newId } from './new-ids.js';
import type { Direction, LedgerTransaction, TransactionKind } from '../ledger/types.js';
import { microsOf, toLedgerTransaction, type TransactionRecord } from './transaction-rows.js';

/**
 * Raw SQL, on purpose: the posting path. Every Transfer and BankTransaction
 * posted alone (ACCOUNTS_GROUP_COMMIT=off, or a group's fallback) is
 * one call of ledger_post() (the PL/pgSQL function, its latest body in
 * migrations/Migration20261204000000_bank_balance_shards.ts; no entity describes it),
 * sent as a named prepared statement on the native pool in autocommit mode:
 * one round trip, parsed and planned once per connection.
 *
 * Why not the EntityManager: this is the hot path (docs/benchmarks.md:
 * Transfer ×32 callers posted alone 3 654/s, p99 26.9 ms, 0.66× pgbench
 * tpcb-like on the same machine; 122 µs of accounts-manager CPU per
 * transfer). MikroORM 7 inlines every value into the SQL text (no bound
 * parameters, so no prepared statement to reuse), and its query building and
 * hydration cost ~0.4–0.6 ms of CPU per statement on these machines (a
 * GetAccount read: 150 µs raw, 520–810 µs by em.findOne(); docs/schema.md), and a
 * unit-of-work flush would add BEGIN/COMMIT round trips around a statement
 * that is its own transaction.
 */

export interface Posting {
  requestId: string | null;
  kind: TransactionKind;
  srcAccountId: string | null;
  dstAccountId: string;
  amountMinor: bigint;
  direction: Direction;
  description: string;
  fromAccountId: string;
  toAccountId: string;
  /** The authenticated identity that asked for it ('' with authorization off): ledger_post()'s 11th argument. */
  initiatedBy: string;
}

/** ledger_post() found no account with this id (SQLSTATE AB404): nothing was stored. */
export class AccountNotFound extends Error {
  override name = 'AccountNotFound';
  constructor(readonly accountId: string) {
    super(`no account ${accountId}`);
  }
}

/**
 * What ledger_post() did: `posted` a new transaction (SUCCESS or FAILED), or
 * `replayed` the one its request_id made before; null when the request_id's
 * transaction is no longer in the hot partitions (archived since).
 */
export type PostOutcome = { outcome: 'posted' | 'replayed'; transaction: LedgerTransaction } | null;

type PostedRecord = TransactionRecord & { outcome: 'posted' | 'replayed' };

// The row's create_time also as exact microseconds (a Date would round it to milliseconds).
const LEDGER_POST = `SELECT p.*, ${microsOf('p.create_time')} AS create_time_us
  FROM ledger_post($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) p`;

export async function callLedgerPost(pool: pg.Pool, posting: Posting): Promise<PostOutcome> {
  let result: pg.QueryResult<PostedRecord>;
  try {
    result = await pool.query<PostedRecord>({
      name: 'ledger_post',
      text: LEDGER_POST,
      values: [
        newId(),
        posting.requestId,
        posting.kind,
        posting.srcAccountId,
        posting.dstAccountId,
        posting.amountMinor.toString(),
        posting.direction,
        posting.description,
        posting.fromAccountId,
        posting.toAccountId,
        posting.initiatedBy,
      ],
    });
  } catch (error) {
    const pgError = error as { code?: string; detail?: string };
    if (pgError.code === 'AB404') throw new AccountNotFound(pgError.detail ?? '');
    throw error;
  }
  const record = result.rows[0];
  return record ? { outcome: record.outcome, transaction: toLedgerTransaction(record) } : null;
}
