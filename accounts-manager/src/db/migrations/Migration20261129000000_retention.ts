import { Migration } from '@mikro-orm/migrations';

/**
 * Retention: archived days older than ARCHIVE_RETENTION (default 7 years) are
 * exported to ARCHIVE_EXPORT_DIR and dropped by `npm run transactions:archive`
 * (src/db/retention.sql.ts). In the same transaction as each drop, the day's
 * per-account net goes into archive.opening_balances, which ledger:verify adds
 * to the legs still kept, and the day into archive.dropped_days, which tells
 * GetTransaction and replays that a request's day is gone (not "being
 * archived"). Both tables start empty: nothing is dropped by this migration.
 */
export class Migration20261129000000_retention extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      CREATE TABLE archive.dropped_days (
        day            date NOT NULL PRIMARY KEY,
        transactions   bigint NOT NULL CONSTRAINT dropped_days_transactions_check CHECK (transactions >= 0),
        export_file    text NOT NULL,
        export_sha256  text NOT NULL CONSTRAINT dropped_days_export_sha256_check CHECK (export_sha256 ~ '^[0-9a-f]{64}$'),
        dropped_at     timestamptz NOT NULL
      )`);
    this.addSql(`
      CREATE TABLE archive.opening_balances (
        account_id   uuid NOT NULL PRIMARY KEY,
        balance      bigint NOT NULL,
        update_time  timestamptz NOT NULL
      )`);
  }
}
