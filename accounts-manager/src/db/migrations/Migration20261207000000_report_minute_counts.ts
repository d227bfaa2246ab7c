import { Migration } from '@mikro-orm/migrations';

/**
 * Report counts by the minute instead of by the hour (report_hour_counts →
 * report_counts). A listing's total adds the sealed counts to a row count of
 * what is not sealed yet; by the hour that was the current hour and the five
 * minutes past the last one — at 5 000 transfers a second up to 18 million
 * rows to count before a first page (docs/benchmarks.md, "Cost as work
 * grows"). By the minute it is the five-minute mark delay and a minute or two.
 * The rule that makes a bucket sealable is the hour's, unchanged
 * (db/report-counts.sql.ts).
 *
 * The hourly counts are dropped, not converted: an hour's count cannot be
 * split into minutes. The service marks and seals the window again by the
 * minute at its next maintenance run (every minute); meanwhile totals stay
 * exact and are only slower, counted row by row.
 */
export class Migration20261207000000_report_minute_counts extends Migration {
  override async up(): Promise<void> {
    this.addSql('DROP TABLE report_hour_counts');
    this.addSql(`
      CREATE TABLE report_counts (
        bucket_start  timestamptz PRIMARY KEY CHECK (date_trunc('minute', bucket_start) = bucket_start),
        -- An xid taken after the minute ended: every writer of the minute has a smaller one.
        xid_mark      xid8 NOT NULL,
        marked_at     timestamptz NOT NULL,
        -- NULL until every xid up to xid_mark has finished; then the minute's final row count.
        row_count     bigint CHECK (row_count >= 0),
        sealed_at     timestamptz
      )`);
  }
}
