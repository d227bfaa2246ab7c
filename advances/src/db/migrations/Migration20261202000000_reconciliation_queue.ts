import { Migration } from '@mikro-orm/migrations';

/**
 * Incremental reconciliation: an hourly run re-checks only the advances that
 * changed since it last looked, plus what time alone can make wrong (see
 * reconciliation-run.ts); a full sweep of every advance runs once per
 * RECONCILIATION_FULL_SWEEP_INTERVAL.
 *
 * - `reconciliation_queue` holds the advances changed since a run last checked
 *   them. Triggers put an advance there whenever its row, one of its payments,
 *   or a mirrored ledger movement naming it is written — whoever writes it
 *   (activity, API, ops by hand), so no code path can forget to. `mark` grows
 *   with every change: a run takes an advance off the queue only at the mark it
 *   read together with the advance (one statement, one snapshot), so a change
 *   that commits while the run is checking keeps it queued for the next run.
 *   Statement-level triggers: a mirror of thousands of movements is one upsert.
 * - `reconciliation_runs.mode` says whether a run was a full sweep (the next
 *   full sweep is due RECONCILIATION_FULL_SWEEP_INTERVAL after the last one).
 * - Two partial indexes find what time alone can make stuck: payments still
 *   open and advances still disbursing (few in a healthy book).
 */
export class Migration20261202000000_reconciliation_queue extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      CREATE TABLE reconciliation_queue (
        advance_id uuid PRIMARY KEY,
        mark       bigint NOT NULL DEFAULT 1
      )`);
    this.addSql(`
      CREATE FUNCTION queue_changed_advances() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        -- Sorted: two statements queueing the same advances lock them in one order.
        INSERT INTO reconciliation_queue (advance_id)
        SELECT DISTINCT advance_id FROM changed ORDER BY advance_id
        ON CONFLICT (advance_id) DO UPDATE SET mark = reconciliation_queue.mark + 1;
        RETURN NULL;
      END $$`);
    for (const table of ['advances', 'payments', 'ledger_movements']) {
      for (const event of ['INSERT', 'UPDATE']) {
        this.addSql(`
          CREATE TRIGGER ${table}_${event.toLowerCase()}_queued AFTER ${event} ON ${table}
          REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION queue_changed_advances()`);
      }
    }
    // Null for the runs before the queue existed: changes made after them were never
    // queued, so the first run after this migration is a full sweep.
    this.addSql(`ALTER TABLE reconciliation_runs ADD COLUMN mode text CHECK (mode IN ('FULL', 'INCREMENTAL'))`);
    this.addSql(`CREATE INDEX payments_open_by_due ON payments (due_time) WHERE status IN ('SCHEDULED', 'PROCESSING')`);
    this.addSql(`CREATE INDEX advances_disbursing ON advances (advance_id) WHERE status = 'DISBURSING'`);
  }

  override async down(): Promise<void> {
    this.addSql('DROP INDEX advances_disbursing');
    this.addSql('DROP INDEX payments_open_by_due');
    this.addSql('ALTER TABLE reconciliation_runs DROP COLUMN mode');
    for (const table of ['advances', 'payments', 'ledger_movements']) {
      for (const event of ['insert', 'update']) this.addSql(`DROP TRIGGER ${table}_${event}_queued ON ${table}`);
    }
    this.addSql('DROP FUNCTION queue_changed_advances()');
    this.addSql('DROP TABLE reconciliation_queue');
  }
}
