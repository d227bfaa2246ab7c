import { Migration } from '@mikro-orm/migrations';

/**
 * Cold storage for old transactions. `npm run transactions:archive` detaches
 * daily partitions older than the report window from `transactions` and
 * attaches them to `archive.transactions`, which nothing writes. Reports read
 * only `transactions` (the hot partitions); everything that must see every
 * transaction ever recorded (ledger:verify, GetTransaction, idempotent
 * replays) reads `ledger_transactions_all`, which now spans both.
 */
export class Migration20261126000000_archive extends Migration {
  override async up(): Promise<void> {
    this.addSql('CREATE SCHEMA archive');
    this.addSql(`
      CREATE TABLE archive.transactions (LIKE public.transactions INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
      PARTITION BY RANGE (create_time)`);
    this.addSql('ALTER TABLE archive.transactions ADD PRIMARY KEY (create_time, transaction_id)');
    this.addSql('CREATE INDEX archive_transactions_by_id ON archive.transactions (transaction_id)');

    // Same leading columns as before (so the view can be replaced in place), then the rest of the row.
    this.addSql(`
      CREATE OR REPLACE VIEW ledger_transactions_all AS
        SELECT transaction_id, create_time, status, amount, from_account_id, to_account_id,
               request_id, kind, src_account_id, dst_account_id, direction, description,
               failure_reason, failure_message
        FROM public.transactions
        UNION ALL
        SELECT transaction_id, create_time, status, amount, from_account_id, to_account_id,
               request_id, kind, src_account_id, dst_account_id, direction, description,
               failure_reason, failure_message
        FROM archive.transactions`);

    // A report's first page reads the newest rows of its window; counting the
    // snapshot's rows needs only create_time and xact_id: this index serves
    // both without touching the table.
    this.addSql(
      'CREATE INDEX transactions_report_snapshot ON transactions (create_time DESC, transaction_id DESC) INCLUDE (xact_id)',
    );
    this.addSql('DROP INDEX transactions_report');
  }
}
