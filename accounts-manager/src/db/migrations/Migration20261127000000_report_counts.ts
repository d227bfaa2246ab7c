import { Migration } from '@mikro-orm/migrations';
import { LEDGER_POST_FUNCTION } from './Migration20261125000000_ledger.js';

/**
 * Counts of sealed hours, so a report's first page need not count a million
 * rows (see src/reports/report-counts.ts for why a sealed count is exact for
 * every later snapshot).
 *
 * The rule that makes an hour sealable: a transaction row's create_time is
 * taken with clock_timestamp() *after* its writing transaction has its xid
 * (ledger_post() assigns it first). So once an xid X is handed out after an
 * hour has ended, no transaction with an xid above X can write into that hour,
 * and once every xid up to X has finished, the hour's rows are final.
 */
export class Migration20261127000000_report_counts extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      CREATE TABLE report_hour_counts (
        hour_start  timestamptz PRIMARY KEY CHECK (date_trunc('hour', hour_start) = hour_start),
        -- An xid taken after the hour ended: every writer of the hour has a smaller one.
        xid_mark    xid8 NOT NULL,
        marked_at   timestamptz NOT NULL,
        -- NULL until every xid up to xid_mark has finished; then the hour's final row count.
        row_count   bigint CHECK (row_count >= 0),
        sealed_at   timestamptz
      )`);
    this.addSql(ledgerPostWithInsertTime());
  }
}

/** ledger_post() as before, but with create_time = clock_timestamp() taken once the xid is assigned. */
function ledgerPostWithInsertTime(): string {
  const edits: [string, string][] = [
    ['CREATE FUNCTION ledger_post(', 'CREATE OR REPLACE FUNCTION ledger_post('],
    ["  v_message text := '';\n", "  v_message text := '';\n  v_time timestamptz;\n"],
    [
      'BEGIN\n  IF p_request_id IS NOT NULL THEN',
      `BEGIN
  -- The xid first, then the time: a row's create_time is never earlier than
  -- the moment its xid existed (what lets report_hour_counts seal an hour).
  PERFORM pg_current_xact_id();
  v_time := clock_timestamp();
  IF p_request_id IS NOT NULL THEN`,
    ],
    ['VALUES (p_request_id, p_transaction_id, now())', 'VALUES (p_request_id, p_transaction_id, v_time)'],
    ['p_transaction_id, now(), p_request_id', 'p_transaction_id, v_time, p_request_id'],
  ];
  return edits.reduce((sql, [from, to]) => {
    if (sql.split(from).length !== 2)
      throw new Error(`migration report_counts: expected exactly one "${from}" in ledger_post()`);
    return sql.replace(from, to);
  }, LEDGER_POST_FUNCTION);
}
