import type pg from 'pg';
import { newId } from './new-ids.js';
import type { BatchItemOutcome } from './ledger-post-batch.sql.js';
import type { Posting } from './ledger-post.sql.js';
import { toLedgerTransaction, microsOf, type TransactionRecord } from './transaction-rows.js';

/**
 * Raw SQL, on purpose: a group of lone BankTransactions coalesced by the group
 * commit (ledger/group-commit.ts) is one call of ledger_post_bank_group() (the
 * PL/pgSQL function in migrations/Migration20261206000000_bank_group.ts), its
 * items as parallel arrays: one round trip and one commit for the group. Same
 * reasons as ledger-post.sql.ts; docs/benchmarks.md has the BankTransaction
 * line it moved.
 */

/** AB507: the group's bank legs did not fit one shard; nothing was stored — post each alone. */
export class BankGroupNeedsShards extends Error {
  override name = 'BankGroupNeedsShards';
}

type ItemRecord = TransactionRecord & { item: number; outcome: 'posted' | 'replayed' | 'not_found' | 'gone' };

// The row's create_time also as exact microseconds (a Date would round it to milliseconds).
const LEDGER_POST_BANK_GROUP = `SELECT p.*, ${microsOf('p.create_time')} AS create_time_us
  FROM ledger_post_bank_group($1, $2, $3, $4, $5, $6, $7, $8) p`;

/**
 * Posts bank transactions (postings of kind 'bank', each with a distinct
 * request_id or none) as one group; each item answered as its lone
 * ledger_post() call would have been: posted, replayed, gone (look in the
 * archive), or not_found (its account; nothing stored).
 */
export async function callLedgerPostBankGroup(
  pool: pg.Pool,
  bankAccountId: string,
  postings: Posting[],
): Promise<BatchItemOutcome[]> {
  let result: pg.QueryResult<ItemRecord>;
  try {
    result = await pool.query<ItemRecord>({
      name: 'ledger_post_bank_group',
      text: LEDGER_POST_BANK_GROUP,
      values: [
        bankAccountId,
        postings.map(() => newId()),
        postings.map((p) => p.requestId),
        postings.map((p) => customerOf(p)),
        postings.map((p) => p.amountMinor.toString()),
        postings.map((p) => p.direction),
        postings.map((p) => p.description),
        postings.map((p) => p.initiatedBy),
      ],
    });
  } catch (error) {
    if ((error as { code?: string }).code === 'AB507') throw new BankGroupNeedsShards('bank legs past one shard');
    throw error;
  }
  if (result.rows.length !== postings.length)
    throw new Error(`ledger_post_bank_group answered ${result.rows.length} items for ${postings.length}`);
  return result.rows.map((row, index): BatchItemOutcome => {
    if (row.outcome === 'not_found') return { outcome: 'not_found', accountId: customerOf(postings[index]!) };
    if (row.outcome === 'gone') return { outcome: 'gone' };
    return { outcome: row.outcome, transaction: toLedgerTransaction(row) };
  });
}

function customerOf(posting: Posting): string {
  if (posting.kind !== 'bank') throw new Error('ledger_post_bank_group posts bank transactions only');
  return posting.dstAccountId;
}
