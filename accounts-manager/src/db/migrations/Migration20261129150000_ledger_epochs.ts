import { Migration } from '@mikro-orm/migrations';

/**
 * Ledger epochs: which PostgreSQL cluster wrote each transaction row, so that a
 * report snapshot stays exact across a dump and restore (DESIGN.md §3; the rule
 * is in src/db/ledger-epochs.sql.ts, the report's SQL in report-queries.sql.ts).
 *
 * A row's xact_id is an xid of the cluster that wrote it. Restored into another
 * cluster, whose transaction-id counter is elsewhere, the number means nothing
 * there: compared with that cluster's snapshots, copied rows would look like
 * transactions still to come and vanish from every report. So each row also
 * carries the epoch it was written in: `ledger_epochs` numbers the clusters the
 * ledger has lived in, in order; the service starts a new epoch when it starts
 * on a cluster other than the latest epoch's, and sets the column default to it
 * (no cost on the posting path: a constant default). A snapshot of epoch E sees
 * every row of an earlier epoch (it committed before that cluster took over),
 * decides rows of E by pg_visible_in_snapshot(), and sees no row of a later one.
 *
 * Every row written so far was written on this cluster: epoch 1 is this cluster.
 * A constant default makes the column a catalogue change on each partition, not
 * a rewrite; the archive gets it too (ATTACH needs the same columns).
 *
 * The report index carries the epoch beside xact_id, so counting a snapshot's
 * rows and walking its first page still read only the index. Building it reads
 * every hot partition once and blocks writes meanwhile (in this migration's
 * transaction): measured 1.3 s on 1 000 000 rows (docs/ledger.md, "Backup and
 * restore"). It takes over the old index's name, so plans and docs keep it.
 */
export class Migration20261129150000_ledger_epochs extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      CREATE TABLE ledger_epochs (
        epoch              integer PRIMARY KEY CHECK (epoch > 0),
        -- pg_control_system().system_identifier of the cluster the epoch ran on.
        system_identifier  bigint NOT NULL,
        -- That cluster's transaction-id counter when the epoch began (for ops reading the history).
        first_xact_id      xid8 NOT NULL,
        began_at           timestamptz NOT NULL DEFAULT now(),
        -- Set when ledger:restore began the epoch: the backup's snapshot (of the epoch before). The
        -- rows of earlier epochs here are exactly those it saw, so a token of the epoch before is
        -- answerable only if it saw no more than that snapshot did.
        restored_snapshot  pg_snapshot
      )`);
    this.addSql(`
      INSERT INTO ledger_epochs (epoch, system_identifier, first_xact_id)
      SELECT 1, system_identifier, pg_current_xact_id() FROM pg_control_system()`);
    this.addSql('ALTER TABLE public.transactions ADD COLUMN epoch integer NOT NULL DEFAULT 1');
    this.addSql('ALTER TABLE archive.transactions ADD COLUMN epoch integer NOT NULL DEFAULT 1');
    this.addSql(
      'CREATE INDEX transactions_report_epoch ON public.transactions (create_time DESC, transaction_id DESC) INCLUDE (xact_id, epoch)',
    );
    this.addSql('DROP INDEX public.transactions_report_snapshot');
    this.addSql('ALTER INDEX public.transactions_report_epoch RENAME TO transactions_report_snapshot');
  }
}
