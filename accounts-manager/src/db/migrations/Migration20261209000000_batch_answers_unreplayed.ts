import { Migration } from '@mikro-orm/migrations';
import { ledgerPostBatchWithPrunedReplays } from './Migration20261208000000_replays_pruned.js';

/**
 * ledger_post_batch() answers from the rows it has just inserted when no item
 * replays an earlier transaction — every lone Transfer's group, and nearly
 * every BatchTransfer.
 *
 * Its closing statement also looks each replayed item up in the hot table and
 * in the archive (a LATERAL subquery over both, pruned per row when it runs).
 * That statement names every daily partition, hot and archived, and
 * PostgreSQL starts a scan of each one every time the statement runs, replay
 * or not: 33 empty archived days added 0.2 ms to every group of one transfer
 * (0.99 → 1.19 ms, pgbench, one client), and seven years archived would add
 * some 15 ms. ledger_post(), which looks nothing up unless it replays, did not
 * move. Now that statement runs only when an item replays or conflicts; the
 * other answers the same rows without the lookup. Same answers; only the
 * function's body changes.
 */
export class Migration20261209000000_batch_answers_unreplayed extends Migration {
  override async up(): Promise<void> {
    this.addSql(ledgerPostBatchAnsweringUnreplayed());
  }
}

const CLOSING_STATEMENT_START = '  RETURN QUERY\n    WITH inserted AS (';
const CLOSING_STATEMENT_END = '     ORDER BY x.ord;\nEND $$';

function ledgerPostBatchAnsweringUnreplayed(): string {
  const sql = ledgerPostBatchWithPrunedReplays();
  const start = sql.lastIndexOf(CLOSING_STATEMENT_START);
  const end = sql.lastIndexOf(CLOSING_STATEMENT_END);
  if (start < 0 || end < start) throw new Error('migration batch_answers_unreplayed: closing statement not found');
  const closing = sql.slice(start, end + '     ORDER BY x.ord;'.length);
  const lookups = closing.slice(
    closing.indexOf('    ), earlier AS ('),
    closing.indexOf('    SELECT (x.ord - 1)::integer'),
  );
  if (!lookups.includes('answered AS (SELECT * FROM inserted UNION ALL SELECT * FROM earlier)')) {
    throw new Error('migration batch_answers_unreplayed: the replay lookups are not where expected');
  }
  const unreplayed = closing.replace(lookups, '    )\n').replace('LEFT JOIN answered s ON', 'LEFT JOIN inserted s ON');
  const indent = (statement: string) => statement.replaceAll('\n', '\n  ');
  return `${sql.slice(0, start)}  IF 'replayed' = ANY(v_outcome) OR 'conflict' = ANY(v_outcome) THEN
  ${indent(closing)}
  ELSE
    -- Nothing replayed: the answers are the rows just inserted (no lookup, no partition scans to start).
  ${indent(unreplayed)}
  END IF;
END $$`;
}
