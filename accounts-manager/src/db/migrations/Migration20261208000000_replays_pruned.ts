import { Migration } from '@mikro-orm/migrations';
import { LEDGER_POST_BATCH } from './Migration20261205000000_batch_transfer.js';

/**
 * ledger_post_batch() finds a replayed item's transaction by its id and
 * create_time. It looked it up through the view ledger_transactions_all (hot
 * UNION ALL archive), and PostgreSQL does not prune partitions at run time
 * through that view: every replay probed every daily partition, hot and
 * archived — 48 on the benchmark's grown ledger (0.9–11.6 ms for 16 replays
 * against 0.24 ms on an empty one), some 2 500 once 7 years are archived. The
 * group commit posts lone transfers through this function, so every replayed
 * Transfer paid it.
 *
 * Each lookup now reads the hot table, then the archive, in a LATERAL
 * subquery with LIMIT 1: each side is pruned to the one partition that
 * create_time names (0.3 ms for the same 16), and the archive is read only
 * when the hot table does not hold the row. Same rows, same answers; only the
 * function's body changes.
 */
export class Migration20261208000000_replays_pruned extends Migration {
  override async up(): Promise<void> {
    this.addSql(ledgerPostBatchWithPrunedReplays());
  }
}

/** The columns of ledger_transactions_all, in its order, of table alias `t` (qualified: the function's OUT parameters share their names). */
const columnsOf = (t: string) =>
  [
    'transaction_id',
    'create_time',
    'status',
    'amount',
    'from_account_id',
    'to_account_id',
    'request_id',
    'kind',
    'src_account_id',
    'dst_account_id',
    'direction',
    'description',
    'failure_reason',
    'failure_message',
    'initiated_by',
  ]
    .map((column) => `${t}.${column}`)
    .join(', ');

/** The transaction (id x.tid, created x.ttime) wherever it is kept, as the row `s`; `when` gates the lookup. */
const transactionAt = (when: string) =>
  `LATERAL (SELECT ${columnsOf('h')} FROM transactions h
                 WHERE ${when}h.transaction_id = x.tid AND h.create_time = x.ttime
                UNION ALL
                SELECT ${columnsOf('a')} FROM archive.transactions a
                 WHERE ${when}a.transaction_id = x.tid AND a.create_time = x.ttime
                LIMIT 1) s`;

export function ledgerPostBatchWithPrunedReplays(): string {
  const edits: [string, string][] = [
    ['CREATE FUNCTION ledger_post_batch(', 'CREATE OR REPLACE FUNCTION ledger_post_batch('],
    [
      'LEFT JOIN ledger_transactions_all s ON s.transaction_id = x.tid AND s.create_time = x.ttime\n       WHERE',
      `LEFT JOIN ${transactionAt('')} ON true\n       WHERE`,
    ],
    [
      'JOIN ledger_transactions_all s ON s.transaction_id = x.tid AND s.create_time = x.ttime\n         ORDER BY x.ord;',
      `JOIN ${transactionAt('')} ON true\n         ORDER BY x.ord;`,
    ],
    [
      "LEFT JOIN ledger_transactions_all s ON x.o = 'replayed' AND s.transaction_id = x.tid AND s.create_time = x.ttime;",
      `LEFT JOIN ${transactionAt("x.o = 'replayed' AND ")} ON true;`,
    ],
    [
      "JOIN ledger_transactions_all s ON s.transaction_id = x.tid AND s.create_time = x.ttime\n       WHERE x.o IN ('replayed', 'conflict')",
      `JOIN ${transactionAt("x.o IN ('replayed', 'conflict') AND ")} ON true\n       WHERE x.o IN ('replayed', 'conflict')`,
    ],
  ];
  return edits.reduce((sql, [from, to]) => {
    if (sql.split(from).length !== 2)
      throw new Error(`migration replays_pruned: expected exactly one "${from}" in ledger_post_batch()`);
    return sql.replace(from, to);
  }, LEDGER_POST_BATCH);
}
