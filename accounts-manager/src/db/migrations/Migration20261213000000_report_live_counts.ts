import { Migration } from '@mikro-orm/migrations';

/**
 * Row counts kept by the transactions that write the rows, for the minutes
 * not sealed yet (db/report-live-counts.sql.ts says how they are used).
 *
 * Why: a listing's total_size added the sealed minutes to a row-by-row count
 * of the minutes not sealed yet — the 5-minute mark delay, the current minute
 * and up to a minute of the timer. Under sustained writes that is always 5–7
 * minutes of rows: at 3 238 transfers a second ~1.1 million rows, and the
 * first page's p50 reached 330–380 ms (docs/benchmarks.md, "Live counts for
 * the minutes not sealed yet").
 *
 * A statement-level trigger adds one row per (minute, transaction) to
 * report_live_counts in the transaction that inserts the rows, so a listing's
 * snapshot sees a minute's counts exactly as it sees the minute's rows. One
 * trigger for every way rows are inserted (ledger_post, ledger_post_batch,
 * ledger_post_bank_group, and anything later), not a line in each function.
 * A transition table carries the statement's rows to it: one INSERT per
 * statement, a batch of 100 included. A second trigger, on DELETE, runs the
 * same function and takes deleted rows off the same way: the group commit's
 * lenient ledger_post_batch() inserts every new item's row before it locks the
 * accounts and deletes the row of an item whose account does not exist, in
 * the same transaction (its count nets out on the transaction's own row;
 * another transaction's DELETE leaves a negative one).
 *
 * The counts start exact: in the same transaction (CREATE TRIGGER has locked
 * out inserts until it commits) every minute without a sealed count is counted
 * once. That reads every hot row once; on a ledger of 10 million rows, a few
 * seconds during which transfers wait.
 *
 * Servers of the previous release keep running beside new ones during a
 * rolling upgrade: their inserts are counted by the trigger as anyone's, and
 * they ignore the new table. A rollback must drop the triggers (the previous
 * release does not compact the table, which would grow by a row per posting).
 */
export class Migration20261213000000_report_live_counts extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      CREATE TABLE report_live_counts (
        bucket_start  timestamptz NOT NULL CHECK (date_trunc('minute', bucket_start) = bucket_start),
        -- The transaction that wrote the rows (or folded other rows' counts into this one).
        xact_id       xid8 NOT NULL,
        -- Rows inserted less rows deleted: negative for a transaction that only deleted.
        row_count     bigint NOT NULL,
        PRIMARY KEY (bucket_start, xact_id)
      )`);
    // One function for both triggers: each names its transition table changed_rows.
    this.addSql(`
      CREATE FUNCTION report_live_count() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO report_live_counts AS l (bucket_start, xact_id, row_count)
        SELECT date_trunc('minute', r.create_time), pg_current_xact_id(),
               CASE WHEN TG_OP = 'DELETE' THEN -count(*) ELSE count(*) END
        FROM changed_rows r GROUP BY 1
        ON CONFLICT (bucket_start, xact_id) DO UPDATE SET row_count = l.row_count + excluded.row_count;
        RETURN NULL;
      END $$`);
    this.addSql(`
      CREATE TRIGGER transactions_report_live_count AFTER INSERT ON transactions
      REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION report_live_count()`);
    this.addSql(`
      CREATE TRIGGER transactions_report_live_uncount AFTER DELETE ON transactions
      REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION report_live_count()`);
    this.addSql(`
      INSERT INTO report_live_counts (bucket_start, xact_id, row_count)
      SELECT m.bucket_start, pg_current_xact_id(), m.row_count
      FROM (SELECT date_trunc('minute', create_time) AS bucket_start, count(*) AS row_count
            FROM transactions GROUP BY 1) m
      WHERE NOT EXISTS (SELECT 1 FROM report_counts c WHERE c.bucket_start = m.bucket_start AND c.row_count IS NOT NULL)`);
  }
}
