import { Migration } from '@mikro-orm/migrations';
import { ledgerPostBatchAnsweringLinearly } from './Migration20261210000000_batch_answers_linear.js';

/**
 * ledger_post_batch() inserts its new rows before it locks their accounts.
 *
 * A batch holds the locks of every account it touches until it commits, and
 * two batches of 100 random transfers over 10 000 accounts share an account
 * almost always (~96 %): concurrent batches run one after another, each for
 * as long as its locks are held. The rows' INSERT — a heap tuple and five
 * index entries a row, the batch's largest statement (2.46 of the ~5.3 ms a
 * batch of 100 spent under its locks, warm) — ran inside that window although
 * nothing in it needs a lock but the rows' outcomes. Now the new items' rows are inserted first,
 * provisionally successful; once the accounts are locked and the items
 * evaluated, only the items that failed have their row's status, reason and
 * message set (an UPDATE of columns no index holds). Nothing else moves:
 * the rows, like the balances, are seen by no one before the commit; the
 * answers come from the same arrays; an item whose account does not exist
 * (lenient mode: a group of lone transfers) has its provisional row deleted
 * with its key, so it still stores nothing; in strict mode the error rolls
 * the whole statement back as before.
 *
 * Measured through the function alone (node-postgres, 4 callers, batches of
 * 100 over 10 000 accounts, 3 alternating rounds of 8 s): 14 562–15 187
 * → 17 200–19 325 items/s; PostgreSQL sampled in `Lock:transactionid` in
 * 95 of 234 samples before. Through the service, BatchTransfer ×4: 154.1 →
 * 177.5 batches/s (docs/benchmarks.md).
 */
export class Migration20261211000000_batch_rows_before_locks extends Migration {
  override async up(): Promise<void> {
    this.addSql(ledgerPostBatchInsertingBeforeLocks());
  }
}

/** Step 5 as the function had it: the balances, then the rows' INSERT, with the items' final outcomes. */
const MONEY_STEP = '  -- 5. The money, the rows, the answer.';
const ROWS_INSERT_START = '  INSERT INTO transactions AS s (';
const ROWS_INSERT_END = "   WHERE x.o = 'posted';";

/** Before the accounts are locked: every new item's row, successful until its evaluation says otherwise. */
const INSERT_BEFORE_LOCKS = `  -- 3a. The new items' rows, before any account is locked: provisionally
  -- successful; step 5 marks the ones that failed (Migration20261211000000).
  INSERT INTO transactions AS s (
    transaction_id, create_time, request_id, kind, src_account_id, dst_account_id, amount,
    direction, description, status, failure_reason, failure_message, from_account_id, to_account_id,
    initiated_by)
  SELECT x.tid, v_time, x.rid, 'transfer', x.src, x.dst, x.amt, x.dir, '', 'success', NULL, '', x.f, x.t, x.who
    FROM unnest(p_transaction_ids, p_request_ids, p_src, p_dst, p_amounts, p_directions, p_from, p_to,
                p_initiated_by, v_outcome)
         x(tid, rid, src, dst, amt, dir, f, t, who, o)
   WHERE x.o = 'posted';

`;

/** In step 5, where the INSERT was: the failed items' rows get their outcome (by primary key, only when one failed). */
const MARK_FAILED = `  IF 'failed' = ANY(v_status) THEN
    UPDATE transactions t SET status = x.st, failure_reason = x.re, failure_message = x.msg
      FROM unnest(p_transaction_ids, v_status, v_reason, v_message, v_outcome) x(tid, st, re, msg, o)
     WHERE x.o = 'posted' AND x.st = 'failed' AND t.create_time = v_time AND t.transaction_id = x.tid;
  END IF;`;

const LOCKS_START = "  -- 3. The new items' accounts, locked in account_id order";

/** Lenient mode lets an item with a missing account go: its provisional row goes with its key. */
const KEYS_LET_GO = '    DELETE FROM transaction_requests r\n';
const ROWS_AND_KEYS_LET_GO = `    DELETE FROM transactions t
     WHERE t.create_time = v_time
       AND t.transaction_id IN (SELECT x.tid FROM unnest(p_transaction_ids, v_missing) x(tid, m) WHERE x.m IS NOT NULL);
${KEYS_LET_GO}`;

export function ledgerPostBatchInsertingBeforeLocks(): string {
  const sql = ledgerPostBatchAnsweringLinearly();
  const moneyStep = sql.indexOf(MONEY_STEP);
  const insertStart = sql.indexOf(ROWS_INSERT_START, moneyStep);
  const insertEnd = sql.indexOf(ROWS_INSERT_END, insertStart) + ROWS_INSERT_END.length;
  if (moneyStep < 0 || insertStart < 0 || insertEnd < ROWS_INSERT_END.length) {
    throw new Error('migration batch_rows_before_locks: the rows’ INSERT not found');
  }
  for (const [what, text] of [
    ['the locking step', LOCKS_START],
    ['the keys let go', KEYS_LET_GO],
  ] as const) {
    if (sql.split(text).length !== 2) throw new Error(`migration batch_rows_before_locks: ${what} not found once`);
  }
  return `${sql.slice(0, insertStart)}${MARK_FAILED}${sql.slice(insertEnd)}`
    .replace(LOCKS_START, `${INSERT_BEFORE_LOCKS}${LOCKS_START}`)
    .replace(KEYS_LET_GO, ROWS_AND_KEYS_LET_GO);
}
