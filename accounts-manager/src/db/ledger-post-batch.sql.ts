import type pg from 'pg';
import { newId } from './new-ids.js';
import type { Direction, LedgerTransaction } from '../ledger/types.js';
import { microsOf, toLedgerTransaction, type TransactionRecord } from './transaction-rows.js';

/**
 * Raw SQL, on purpose: a whole BatchTransfer (or a group of lone Transfers
 * coalesced by the group commit) is one call of ledger_post_batch() (the
 * PL/pgSQL function in migrations/Migration20261205000000_batch_transfer.ts, as
 * changed by the later migrations that name it — the latest,
 * …_batch_rows_before_locks.ts; no entity describes it), its items passed as parallel arrays: one round trip and
 * one database transaction for up to MAX_BATCH_SIZE transfers, which is what
 * makes a batch both atomic when asked and cheap (docs/benchmarks.md: the
 * BatchTransfer line). Through the EntityManager every item would be its own
 * INSERT with values inlined in the SQL text, and a flush would add BEGIN/COMMIT
 * round trips around what is a single statement here.
 */

export interface BatchItem {
  requestId: string | null;
  srcAccountId: string;
  dstAccountId: string;
  amountMinor: bigint;
  direction: Direction;
  /** The payer and the payee, resolved from the direction. */
  fromAccountId: string;
  toAccountId: string;
  initiatedBy: string;
}

export interface BatchPosting {
  /** The batch's own idempotency key (null: none). */
  requestId: string | null;
  atomic: boolean;
  /**
   * The group commit's mode: an item whose key was used for another request, or
   * whose account does not exist, is answered so ('conflict', 'not_found') and
   * fails no other item. Otherwise such an item fails the call and nothing is stored.
   */
  lenient: boolean;
  items: BatchItem[];
}

/** What the function answered for one item, in request order. */
export type BatchItemOutcome =
  | { outcome: 'posted' | 'replayed' | 'conflict'; transaction: LedgerTransaction }
  | { outcome: 'not_found'; accountId: string }
  /** Lenient only: the item's key replays a transaction moving to the archive this instant (retry). */
  | { outcome: 'gone' };

/** AB404: the item at `index` names an account that does not exist; nothing was stored. */
export class BatchAccountNotFound extends Error {
  override name = 'BatchAccountNotFound';
  constructor(
    readonly index: number,
    readonly accountId: string,
  ) {
    super(`transfers[${index}]: no account ${accountId}`);
  }
}

/**
 * AB409: a key was used before for another request; nothing was stored. `index` is
 * the item whose key it is, null for the batch's own key; `transactionId` what the
 * item's key recorded.
 */
export class BatchKeyConflict extends Error {
  override name = 'BatchKeyConflict';
  constructor(
    readonly index: number | null,
    readonly transactionId: string | null,
  ) {
    super(index === null ? 'the batch request_id was used for another batch' : `transfers[${index}].request_id reused`);
  }
}

/** AB503: a replayed item's transaction is moving to the archive this very moment; a retry finds it. */
export class BatchReplayArchiving extends Error {
  override name = 'BatchReplayArchiving';
}

type ItemRecord = TransactionRecord & {
  item: number;
  outcome: 'posted' | 'replayed' | 'conflict' | 'not_found' | 'gone';
  missing_account_id: string | null;
};

// The row's create_time also as exact microseconds (a Date would round it to milliseconds).
const LEDGER_POST_BATCH = `SELECT p.*, ${microsOf('p.create_time')} AS create_time_us
  FROM ledger_post_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) p`;

export async function callLedgerPostBatch(pool: pg.Pool, batch: BatchPosting): Promise<BatchItemOutcome[]> {
  const { items } = batch;
  let result: pg.QueryResult<ItemRecord>;
  try {
    result = await pool.query<ItemRecord>({
      name: 'ledger_post_batch',
      text: LEDGER_POST_BATCH,
      values: [
        batch.requestId,
        batch.atomic,
        batch.lenient,
        items.map(() => newId()),
        items.map((item) => item.requestId),
        items.map((item) => item.srcAccountId),
        items.map((item) => item.dstAccountId),
        items.map((item) => item.amountMinor.toString()),
        items.map((item) => item.direction),
        items.map((item) => item.fromAccountId),
        items.map((item) => item.toAccountId),
        items.map((item) => item.initiatedBy),
      ],
    });
  } catch (error) {
    throw batchError(error);
  }
  if (result.rows.length !== items.length)
    throw new Error(`ledger_post_batch answered ${result.rows.length} items for ${items.length}`);
  return result.rows.map((row): BatchItemOutcome => {
    if (row.outcome === 'not_found') return { outcome: 'not_found', accountId: row.missing_account_id ?? '' };
    if (row.outcome === 'gone') return { outcome: 'gone' };
    return { outcome: row.outcome, transaction: toLedgerTransaction(row) };
  });
}

/** The function's own SQLSTATEs as errors the ledger can name a field for; anything else as it came. */
function batchError(error: unknown): unknown {
  const pgError = error as { code?: string; detail?: string; hint?: string };
  if (pgError.code === 'AB404') {
    const [index, accountId] = (pgError.detail ?? '').split(':');
    return new BatchAccountNotFound(Number(index), accountId ?? '');
  }
  if (pgError.code === 'AB409') {
    const detail = pgError.detail ?? '';
    return detail === 'request_id'
      ? new BatchKeyConflict(null, null)
      : new BatchKeyConflict(Number(detail), pgError.hint ?? null);
  }
  if (pgError.code === 'AB503') return new BatchReplayArchiving('a replayed transaction is being archived');
  return error;
}
