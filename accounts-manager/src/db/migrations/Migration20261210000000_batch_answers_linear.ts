import { Migration } from '@mikro-orm/migrations';
import { ledgerPostBatchWithPrunedReplays } from './Migration20261208000000_replays_pruned.js';

/**
 * ledger_post_batch() answers in time linear in the batch's size.
 *
 * Its closing statement inserted the new rows (a CTE with RETURNING) and
 * joined them back to their items by transaction id. PostgreSQL estimates one
 * row for such a CTE and joins it in a nested loop: every item compared with
 * every inserted row, under the accounts' locks — 10 000 comparisons for a
 * batch of 100, a million for one of 1 000 (MAX_BATCH_SIZE's default), a
 * hundred million at its limit. Measured through the function alone (one
 * client, fresh tables): 99 → 54 ms of PostgreSQL CPU a batch of 1 000,
 * 736 → 227 ms a batch of 5 000.
 *
 * Now the rows are inserted by a statement of their own, and a new item's
 * answer is told from the very arrays its row was inserted from (the row holds
 * nothing else the answer shows). A replayed item's transaction is still
 * looked up by id and time, in the hot table and then the archive, only when
 * some item replays (Migration20261209000000_batch_answers_unreplayed: the
 * lookup names every daily partition). Same answers; only the function's body
 * changes.
 */
export class Migration20261210000000_batch_answers_linear extends Migration {
  override async up(): Promise<void> {
    this.addSql(ledgerPostBatchAnsweringLinearly());
  }
}

const CLOSING_STATEMENT_START = '  RETURN QUERY\n    WITH inserted AS (';
const FUNCTION_END = 'END $$';

/** A replayed item's transaction: the hot table's row, else the archive's (each pruned to create_time's partition). */
const LOOKUP_EARLIER = `(SELECT h.transaction_id, h.create_time, h.request_id, h.kind, h.src_account_id, h.dst_account_id,
                          h.amount, h.direction, h.description, h.status, h.failure_reason, h.failure_message,
                          h.initiated_by
                     FROM transactions h WHERE h.transaction_id = answer.tid AND h.create_time = answer.ttime
                   UNION ALL
                   SELECT a.transaction_id, a.create_time, a.request_id, a.kind, a.src_account_id, a.dst_account_id,
                          a.amount, a.direction, a.description, a.status, a.failure_reason, a.failure_message,
                          a.initiated_by
                     FROM archive.transactions a WHERE a.transaction_id = answer.tid AND a.create_time = answer.ttime
                   LIMIT 1)`;

/** New items, from their arrays; then items that stored nothing (not_found, gone), with no transaction. */
const ANSWER_UNREPLAYED = `SELECT (answer.ord - 1)::integer, answer.o, answer.tid, v_time, answer.rid, 'transfer'::text,
             answer.src, answer.dst, answer.amt, answer.dir, ''::text, answer.st, answer.re, answer.msg, answer.who,
             NULL::uuid
        FROM unnest(p_transaction_ids, p_request_ids, p_src, p_dst, p_amounts, p_directions, v_status, v_reason,
                    v_message, p_initiated_by, v_outcome)
             WITH ORDINALITY answer(tid, rid, src, dst, amt, dir, st, re, msg, who, o, ord)
       WHERE answer.o = 'posted'
      UNION ALL
      SELECT (answer.ord - 1)::integer, answer.o, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
             NULL, NULL, answer.m
        FROM unnest(v_outcome, v_missing) WITH ORDINALITY answer(o, m, ord)
       WHERE answer.o NOT IN ('posted', 'replayed', 'conflict')`;

/** The closing statements, after `insert` (the rows' INSERT, as the function had it). */
const closing = (insert: string) => `  ${insert};

  -- The answer, one row per item in request order; no item is matched against the others.
  IF 'replayed' = ANY(v_outcome) OR 'conflict' = ANY(v_outcome) THEN
    RETURN QUERY
      SELECT (answer.ord - 1)::integer, answer.o, s.transaction_id, s.create_time, s.request_id, s.kind,
             s.src_account_id, s.dst_account_id, s.amount, s.direction, s.description, s.status,
             s.failure_reason, s.failure_message, s.initiated_by, NULL::uuid
        FROM unnest(v_final_ids, v_final_times, v_outcome) WITH ORDINALITY answer(tid, ttime, o, ord)
        LEFT JOIN LATERAL ${LOOKUP_EARLIER} s ON true
       WHERE answer.o IN ('replayed', 'conflict')
      UNION ALL
      ${ANSWER_UNREPLAYED}
       ORDER BY 1;
  ELSE
    RETURN QUERY
      ${ANSWER_UNREPLAYED}
       ORDER BY 1;
  END IF;
END $$`;

export function ledgerPostBatchAnsweringLinearly(): string {
  const sql = ledgerPostBatchWithPrunedReplays();
  const start = sql.lastIndexOf(CLOSING_STATEMENT_START);
  const insertStart = sql.indexOf('INSERT INTO transactions AS s (', start);
  const insertEnd = sql.indexOf('\n      RETURNING ', insertStart);
  if (start < 0 || insertStart < 0 || insertEnd < 0 || !sql.endsWith(FUNCTION_END)) {
    throw new Error('migration batch_answers_linear: closing statement not found');
  }
  // The INSERT as it stood, its RETURNING left off, indented as a statement of its own.
  const insert = sql.slice(insertStart, insertEnd).replaceAll('\n    ', '\n');
  return `${sql.slice(0, start)}${closing(insert)}`;
}
